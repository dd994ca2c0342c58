import numpy as np
import pytest

from models.errors import InsufficientData, TrainingFailed, TrainingStopped
from models.lstm import PriceLSTM
from models.train import EpochInfo, min_rows, split, train
from tests.models.synthetic import ar1_prices, tiny_config


def test_same_data_config_seed_give_bit_identical_weights():
    prices = ar1_prices(400, seed=7)
    a = train(prices, tiny_config(), seed=11)
    b = train(prices, tiny_config(), seed=11)
    c = train(prices, tiny_config(), seed=12)
    assert all(a.state_dict[k].equal(b.state_dict[k]) for k in a.state_dict)
    assert a.history == b.history and a.metrics == b.metrics and a.backtest == b.backtest
    assert not all(a.state_dict[k].equal(c.state_dict[k]) for k in a.state_dict)


def test_too_short_series_raises_insufficient_data():
    config = tiny_config()
    needed = min_rows(config)
    prices = ar1_prices(needed, seed=1)
    train(prices, config, seed=0)  # exactly enough
    with pytest.raises(InsufficientData, match=f"at least {needed}") as info:
        train(prices[:-1], config, seed=0)
    assert (info.value.needed, info.value.available) == (needed, needed - 1)


def test_min_rows_grows_with_window():
    assert min_rows(tiny_config(window=64)) > min_rows(tiny_config(window=8))
    assert min_rows(tiny_config()) > 200  # FB.csv (196 rows) is the "not enough data" case


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
    original = PriceLSTM.forward

    def broken(self, x, targets=None):
        pred, loss = original(self, x, targets)
        return pred, None if loss is None else loss * float("nan")

    monkeypatch.setattr(PriceLSTM, "forward", broken)
    with pytest.raises(TrainingFailed, match="lower lr"):
        train(ar1_prices(400), tiny_config(), seed=0)


def test_result_records_data_range_hash_and_holdout(tiny_result):
    r = tiny_result
    assert (r.data_start, r.data_end, r.n_rows, r.price_field) == ("d0000", "d0399", 400, "adj_close")
    assert len(r.data_sha256) == 64 and r.windows_per_second > 0
    prices = ar1_prices(400, seed=3)
    held = train(prices, tiny_config(), seed=1, dates=[f"d{i:04d}" for i in range(400)], holdout_days=50)
    assert held.n_rows == 350 and held.data_end == "d0349" and held.data_sha256 != r.data_sha256


def _split_effect(**protection) -> tuple[float, float, float]:
    """Max change of predicted test returns caused by a 2:1 split in the training part."""
    config = tiny_config(epochs=6, hidden_size=8, **protection)
    prices = ar1_prices(600, seed=9)
    assert split(prices.size, config).train_end > 100
    jumped = prices.copy()
    jumped[100:] *= 0.5  # returns are unchanged except one -69% day
    clean, split_run = train(prices, config, seed=0), train(jumped, config, seed=0)

    def returns(result):
        return np.array([r["predicted"] / r["persistence"] - 1 for r in result.backtest])

    change = float(np.abs(returns(clean) - returns(split_run)).max())
    return change, split_run.metrics["mape"] / clean.metrics["mape"], split_run.scaler.scale / clean.scaler.scale


def test_a_split_jump_does_not_wreck_training():
    """Robust scale, clipped inputs and the Huber loss keep a split's influence small."""
    change, mape_ratio, scale_ratio = _split_effect()
    assert change < 0.003 and mape_ratio < 1.03 and scale_ratio == pytest.approx(1.0, abs=0.01)
    unprotected, _, _ = _split_effect(input_clip=100.0, loss_delta=100.0, grad_clip=100.0)
    assert unprotected > 2 * change  # the protections are what keeps it small
