"""pricecast's ML core: pure torch and numpy. Never imports the service layer.

One LSTM per ticker over daily log returns divided by their RiskMetrics volatility; the served
point forecast is persistence, the training drift or the net, whichever validation days support
(persistence unless an edge is significant). Public surface (the service codes against this):

models.lstm
    LSTMConfig(window=30, hidden_size=32, layers=1, dropout=0.0, lr=3e-3, batch_size=256,
               epochs=40, patience=4, grad_clip=1.0, loss_delta=1.0, input_clip=5.0,
               vol_decay=0.94, val_fraction=0.1, test_fraction=0.2)
        .validate() -> self  (ConfigError naming field and value), .to_dict(),
        LSTMConfig.from_dict(d) (unknown keys -> ConfigError).
    BOUNDS: dict[field, (min, max)], inclusive.   PriceLSTM(config): the nn.Module.
models.errors
    ConfigError(ValueError), InsufficientData(ValueError) with .needed/.available,
    CheckpointError, TrainingStopped (.epoch), TrainingFailed.
models.windows
    choose_price_field(columns: dict[str, ndarray | None]) -> 'adj_close' | 'close'.
models.train
    min_rows(config) -> int: fewest prices that train (89 with the default fractions; a short
        series gets a shorter window, down to 8).
    estimate_cost(n_prices, config) -> Cost(peak_bytes, seconds_per_epoch_estimate, windows),
        before anything runs (InsufficientData below min_rows).
    train(prices, config, *, seed, dates=None, price_field="close", on_epoch=None,
          should_stop=None) -> TrainResult
        = finish(prepare(...), fit(...)): prepare(prices, config, *, dates, price_field) ->
        Prepared; fit(prepared, *, seed, on_epoch, should_stop) -> Fitted; finish(prepared,
        fitted, *, seed) -> TrainResult. on_epoch(EpochInfo(epoch, max_epochs, train_loss,
        val_loss, elapsed_s)) -> bool | None after each epoch and should_stop() -> bool between
        batches: True raises TrainingStopped.
    fit_many(prepared_list, *, seeds, on_epoch=None, should_stop=None, kernel="fused") ->
        [Fitted | TrainingStopped | TrainingFailed]: many series' nets fit together
        (models/stacked.py: stacked weights, each model its own init, shuffle, clipping, Adam
        and early stopping; equal configs share a stack). Each Fitted is the one fit() gives
        that series, so finish() is unchanged. on_epoch(StackEpoch(index, epoch, ...)) True
        drops that series alone; fit() is fit_many with one series.
    TrainResult: config (with the window used), seed, price_field, data_start, data_end, n_rows,
        data_sha256, metrics (flat JSON-able dict), backtest (per-day dicts: date, actual,
        predicted, persistence, low_80, high_80, low_95, high_95, prob_up), history
        ([{epoch, train_loss, val_loss}]), train_seconds, windows_per_second, state_dict, vol,
        rule, calibration, best_epoch; .predictor().
    metrics keys: n_test, rmse, mae, mape (percent), mase, directional_accuracy, brier,
        coverage_{80,95}, width_{80,95} (mean width, percent of price),
        persistence_{rmse,mae,mape,mase}, drift_{rmse,mae,mape,mase,directional_accuracy},
        base_rate_{direction,prob_up,directional_accuracy,brier} (the training part's majority
        class), base_rate (= base_rate_directional_accuracy), always_up_directional_accuracy,
        ewma_{coverage,width}_{80,95} (RiskMetrics 0.94 Gaussian band), skill_rmse,
        direction_noise_band, no_edge, test_start, test_end, point_forecast
        ('persistence' | 'drift' | 'model'), alpha, drift, t_drift, t_model, kappa, t_kappa,
        window, best_epoch, epochs_run.
models.evaluate
    backtest(forecasts, prices, *, start, naive_mae, base_prob_up, ewma_sigma, dates=None,
        levels=(80, 95)) -> (metrics, rows); score(predictor, prices, start) -> {n, rmse, mae,
        persistence_rmse, persistence_mae, skill_rmse} (the registry's comparison).
models.predict
    Predictor.from_result(result); attributes config, price_field, window, history, metrics,
        data_end. history = prices a forecast reads (max(window, volatility horizon) + 1 = 150
        by default); window + 1 is the minimum, with a shorter volatility history.
        history_for(config_dict) gives the same number from a stored config.
    Predictor.predict(prices, levels=(80, 95)) -> Prediction(last_price, predicted_price,
        predicted_return, trend, prob_up, intervals=[(level, low, high), ...] ascending).
        trend: the sign of the forecast, the base rate's direction when it is persistence.
    Predictor.forecast(prices, targets, levels) -> dict of arrays (vectorised backtest path).
    predict_many(predictors, price_arrays, levels=(80, 95)) -> list[Prediction]; nets with
        the same (window, hidden_size, layers) run as one batched forward pass.
models.checkpoints
    save(path, result) -> sha256 hex of the file (atomic; one safetensors file with JSON
        metadata in its header, format 2), load(path, *, expected_sha256=None) -> Predictor
        (format 1 and 2; CheckpointError on corrupt, unknown format, or hash mismatch),
        read_metadata(data: bytes) -> dict.

Import order (no cycles): errors, lstm, windows, volatility, calibration, evaluate -> predict
-> legacy -> stacked -> train -> checkpoints. Determinism: the same prices, config, seed and torch thread
count give bit-identical weights on CPU (the caller sets torch.set_num_threads). No pickle.
"""
