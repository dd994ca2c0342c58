"""pricecast's ML core: pure torch and numpy. Never imports the service layer.

One LSTM per ticker over daily log returns. Public surface (the service codes against this):

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
    min_rows(config) -> int
    train(prices, config, *, seed, dates=None, price_field="close", on_epoch=None,
          holdout_days=0) -> TrainResult
        on_epoch(EpochInfo(epoch, max_epochs, train_loss, val_loss, elapsed_s)) -> bool | None;
        True raises TrainingStopped. holdout_days drops the last N prices before anything
        (so a registry can score the model on days it never saw).
    TrainResult: config, seed, price_field, data_start, data_end, n_rows, data_sha256,
        metrics (flat JSON-able dict), backtest (per-day dicts: date, actual, predicted,
        persistence, low_80, high_80, low_95, high_95, prob_up), history
        ([{epoch, train_loss, val_loss}]), train_seconds, windows_per_second, state_dict,
        scaler, calibration, best_epoch, holdout_days.
    metrics keys: n_test, rmse, mae, mape (percent), mase, directional_accuracy, brier,
        coverage_80, coverage_95, persistence_{rmse,mae,mape,mase},
        drift_{rmse,mae,mape,mase,directional_accuracy}, base_rate (always_up accuracy),
        skill_rmse, direction_noise_band, no_edge, test_start, test_end, alpha, best_epoch,
        epochs_run.
models.evaluate
    backtest(predictor, prices, *, start, naive_mae, dates=None, levels=(80, 95))
        -> (metrics, rows);  score(predictor, prices, start) -> dict.
models.predict
    Predictor.from_result(result); attributes config, price_field, window, metrics, data_end.
    Predictor.predict(prices, levels=(80, 95)) -> Prediction(last_price, predicted_price,
        predicted_return, trend, prob_up, intervals=[(level, low, high), ...] ascending).
        Needs window+1 prices (InsufficientData otherwise); levels are integers 1..99.
    Predictor.score(prices, start) -> {n, rmse, mae, persistence_rmse, persistence_mae,
        skill_rmse}: one-step-ahead over prices[start:], each forecast from earlier prices only.
    Predictor.forecast(prices, targets, levels) -> dict of arrays (vectorised backtest path).
    predict_many(predictors, price_arrays, levels=(80, 95)) -> list[Prediction]; nets with
        the same (window, hidden_size, layers) run as one batched forward pass.
models.checkpoints
    save(path, result) -> sha256 hex of the file (atomic; one safetensors file with JSON
        metadata in its header), load(path, *, expected_sha256=None) -> Predictor
        (CheckpointError on corrupt, unknown format, or hash mismatch), file_sha256(path),
        read_metadata(data: bytes) -> dict.

Determinism: the same prices, config, seed and torch thread count give bit-identical
weights on CPU (the caller sets torch.set_num_threads). No pickle anywhere.
"""
