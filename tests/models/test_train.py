import numpy as np
import pytest

from models.errors import InsufficientData, TrainingFailed, TrainingStopped
from models.lstm import LSTMConfig
from models.stacked import _Stack
from models.train import EpochInfo, finish, fit, min_rows, prepare, split, train
from tests.models.synthetic import ar1_prices, random_walk_prices, tiny_config


def test_same_data_config_seed_give_bit_identical_weights():
    prices = ar1_prices(400, seed=7)
    a = train(prices, tiny_config(), seed=11)
    b = train(prices, tiny_config(), seed=11)
    c = train(prices, tiny_config(), seed=12)
    assert all(a.state_dict[k].equal(b.state_dict[k]) for k in a.state_dict)
    assert a.history == b.history and a.metrics == b.metrics and a.backtest == b.backtest
    assert not all(a.state_dict[k].equal(c.state_dict[k]) for k in a.state_dict)


def test_too_short_series_raises_insufficient_data():
    config = LSTMConfig()
    needed = min_rows(config)
    assert needed == 89  # 20 test days, 20 validation days, 40 windows of 8 returns, 9 prices for the first
    prices = ar1_prices(needed, seed=1)
    result = train(prices, tiny_config(window=30), seed=0)  # exactly enough: the window shrinks to 8
    assert result.config.window == 8 and result.metrics["window"] == 8
    with pytest.raises(InsufficientData, match=f"at least {needed}") as info:
        train(prices[:-1], config, seed=0)
    assert (info.value.needed, info.value.available) == (needed, needed - 1)


def test_a_100_row_series_trains_and_backtests():
    prices = random_walk_prices(100, seed=3)
    result = train(prices, LSTMConfig(epochs=3), seed=0, dates=[f"d{i:03d}" for i in range(100)])
    s = split(100, LSTMConfig())
    assert (s.window, s.train_end, s.test_start, s.train_windows) == (19, 60, 80, 40)
    m = result.metrics
    assert m["n_test"] == 20 and m["window"] == 19 and result.config.window == 19
    assert m["point_forecast"] == "persistence" and m["rmse"] == m["persistence_rmse"] and m["no_edge"]
    assert result.predictor().predict(prices).predicted_price == prices[-1]


def test_window_is_kept_when_the_series_is_long_enough():
    assert split(400, LSTMConfig(window=30)).window == 30
    assert split(400, LSTMConfig(window=300)).window == 400 - 80 - 32 - 1 - 40


def test_on_epoch_reports_progress_and_can_stop():
    seen: list[EpochInfo] = []
    result = train(ar1_prices(400), tiny_config(epochs=3, patience=10), seed=0, on_epoch=seen.append)
    assert [e.epoch for e in seen] == [1, 2, 3] and seen[-1].max_epochs == 3
    assert all(e.train_loss > 0 and e.val_loss > 0 and e.elapsed_s >= 0 for e in seen)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    with pytest.raises(TrainingStopped) as info:
        train(ar1_prices(400), tiny_config(epochs=3), seed=0, on_epoch=lambda e: e.epoch == 2)
    assert info.value.epoch == 2


def test_early_stopping_keeps_the_best_epoch():
    result = train(ar1_prices(400), tiny_config(epochs=30, patience=2, lr=0.05), seed=0)
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert len(losses) <= 30 and len(losses) - result.best_epoch <= 2


def test_nan_loss_raises_training_failed(monkeypatch):
    original = _Stack.forward

    def broken(self, x, drop=None):
        return original(self, x, drop) * float("nan")

    monkeypatch.setattr(_Stack, "forward", broken)
    with pytest.raises(TrainingFailed, match="lower lr"):
        train(ar1_prices(400), tiny_config(), seed=0)


def test_result_records_data_range_and_hash(tiny_result):
    r = tiny_result
    assert (r.data_start, r.data_end, r.n_rows, r.price_field) == ("d0000", "d0399", 400, "adj_close")
    assert len(r.data_sha256) == 64 and r.windows_per_second > 0


def test_should_stop_is_checked_between_batches():
    calls = []

    def stop():
        calls.append(1)
        return len(calls) == 3  # the third batch of the first epoch

    with pytest.raises(TrainingStopped) as info:
        train(ar1_prices(400), tiny_config(epochs=5, batch_size=32), seed=0, should_stop=stop)
    assert info.value.epoch == 1 and len(calls) == 3


def test_train_is_prepare_fit_finish():
    prices = ar1_prices(400, seed=2)
    whole = train(prices, tiny_config(), seed=4)
    prepared = prepare(prices, tiny_config())
    parts = finish(prepared, fit(prepared, seed=4), seed=4)
    assert all(whole.state_dict[k].equal(parts.state_dict[k]) for k in whole.state_dict)
    assert whole.metrics == parts.metrics and whole.backtest == parts.backtest


def test_a_random_walk_gets_persistence_exactly():
    """No edge on validation: the served forecast is the last price, not the training drift."""
    for seed in range(3):
        result = train(random_walk_prices(800, seed=100 + seed), tiny_config(), seed=seed)
        m = result.metrics
        assert m["point_forecast"] == "persistence" and m["alpha"] == 0.0 and m["kappa"] == 0.0
        assert m["rmse"] == m["persistence_rmse"] and m["skill_rmse"] == 0.0
        assert all(r["predicted"] == r["persistence"] for r in result.backtest)
        assert m["directional_accuracy"] == m["base_rate_directional_accuracy"] and m["no_edge"]
        assert all(r["prob_up"] == m["base_rate_prob_up"] for r in result.backtest)
        assert m["brier"] == pytest.approx(m["base_rate_brier"], abs=1e-15)


def test_an_ar1_series_keeps_the_model():
    result = train(ar1_prices(1200, seed=1), tiny_config(epochs=8, hidden_size=8), seed=0)
    m = result.metrics
    assert m["point_forecast"] == "model" and m["alpha"] > 0.5 and not m["no_edge"]
    assert m["rmse"] < 0.95 * m["persistence_rmse"] and m["brier"] < m["base_rate_brier"]


def test_a_flat_end_forecasts_no_change():
    """Price constant for the last 200 days: no drift appears in the forecasts there."""
    prices = ar1_prices(1200, seed=4)
    prices[-200:] = prices[-201]
    result = train(prices, tiny_config(epochs=8, hidden_size=8), seed=0)
    flat = result.backtest[-180:]  # windows entirely inside the flat part
    assert all(r["predicted"] == r["persistence"] for r in flat)
    assert result.metrics["rmse"] <= result.metrics["persistence_rmse"]
    assert result.predictor().predict(prices).predicted_price == prices[-1]


def _split_effect(**protection) -> tuple[float, float, float]:
    """Max change of the net's test outputs (units of volatility) caused by a 2:1 split in the training part."""
    config = tiny_config(epochs=6, hidden_size=8, **protection)
    prices = ar1_prices(600, seed=9)
    assert split(prices.size, config).train_end > 100
    jumped = prices.copy()
    jumped[100:] *= 0.5  # returns are unchanged except one -69% day
    clean, split_run = train(prices, config, seed=0), train(jumped, config, seed=0)
    prepared = prepare(prices, config)
    x = prepared.x[-100:]  # the same inputs for both nets: the clean test windows

    def outputs(result):
        return result.predictor()._net_output(x)

    change = float(np.abs(outputs(clean) - outputs(split_run)).max())
    return change, split_run.metrics["mape"] / clean.metrics["mape"], split_run.vol.clip / clean.vol.clip


def test_a_split_jump_does_not_wreck_training():
    """Capped volatility, clipped inputs and the Huber loss keep a split's influence small."""
    change, mape_ratio, scale_ratio = _split_effect()
    assert change < 0.2 and mape_ratio < 1.03 and scale_ratio == pytest.approx(1.0, abs=0.01)
    unprotected, _, _ = _split_effect(input_clip=100.0, loss_delta=100.0, grad_clip=100.0)
    assert unprotected > 2 * change  # the protections are what keeps it small
