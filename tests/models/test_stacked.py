"""fit_many: K models in one stack are each the model a single-ticker train() gives."""

import numpy as np
import pytest
import torch

from models.errors import TrainingFailed, TrainingStopped
from models.lstm import PriceLSTM
from models.stacked import StackEpoch, _Stack
from models.train import finish, fit, fit_many, prepare, train
from tests.models.synthetic import ar1_prices, random_walk_prices, tiny_config

TOL = 1e-5


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _series(k: int, n: int = 300) -> list[np.ndarray]:
    return [ar1_prices(n, seed=10 + i) if i % 2 else random_walk_prices(n, seed=10 + i) for i in range(k)]


def test_fit_many_gives_each_series_the_single_ticker_model():
    config = tiny_config(epochs=6, patience=2)
    prices = _series(5)
    seeds = [0, 1, 2, 3, 4]
    prepared = [prepare(p, config) for p in prices]
    many = fit_many(prepared, seeds=seeds)
    for p, seed, fitted, prep in zip(prices, seeds, many, prepared):
        alone = train(p, config, seed=seed)
        assert _close(fitted.state_dict, alone.state_dict) < TOL
        assert [h["epoch"] for h in fitted.history] == [h["epoch"] for h in alone.history]
        assert fitted.best_epoch == alone.best_epoch
        assert np.allclose([h["val_loss"] for h in fitted.history], [h["val_loss"] for h in alone.history], atol=1e-6)
        result = finish(prep, fitted, seed=seed)  # the unchanged calibration and backtest
        assert result.metrics["rmse"] == pytest.approx(alone.metrics["rmse"], rel=1e-6)
        assert result.predictor().predict(p).predicted_price == pytest.approx(
            alone.predictor().predict(p).predicted_price, rel=1e-6)


def test_series_of_different_lengths_share_a_stack_through_padding():
    config = tiny_config(epochs=4, patience=10)
    prices = [random_walk_prices(n, seed=n) for n in (200, 330, 260)]  # 3 different training parts
    prepared = [prepare(p, config) for p in prices]
    assert len({p.config.window for p in prepared}) == 1 and len({p.split.train_windows for p in prepared}) == 3
    many = fit_many(prepared, seeds=[7, 7, 7])
    for prep, fitted in zip(prepared, many):
        assert _close(fitted.state_dict, fit(prep, seed=7).state_dict) < TOL


def test_different_windows_are_fit_in_separate_stacks_in_input_order():
    short, long_ = random_walk_prices(100, seed=1), random_walk_prices(400, seed=2)
    prepared = [prepare(long_, tiny_config(window=30)), prepare(short, tiny_config(window=30))]
    assert prepared[0].config.window != prepared[1].config.window  # the short series' window shrank
    many = fit_many(prepared, seeds=[3, 4])
    for prep, seed, fitted in zip(prepared, (3, 4), many):
        assert _close(fitted.state_dict, fit(prep, seed=seed).state_dict) < TOL


def test_early_stopping_is_per_model_and_a_stopped_model_keeps_its_best_state():
    config = tiny_config(epochs=25, patience=2, lr=0.05)
    prepared = [prepare(p, config) for p in _series(4, 400)]
    many = fit_many(prepared, seeds=[0, 0, 0, 0])
    runs = [len(f.history) for f in many]
    assert len(set(runs)) > 1, runs  # they stopped at different epochs
    for f in many:
        losses = [h["val_loss"] for h in f.history]
        assert f.best_epoch == int(np.argmin(losses)) + 1
        assert len(losses) - f.best_epoch == 2 or len(losses) == 25
        net = PriceLSTM(prepared[0].config)
        net.load_state_dict(f.state_dict)  # a PriceLSTM checkpoint, as train() writes


def test_on_epoch_drops_one_member_and_the_others_train_on():
    config = tiny_config(epochs=4, patience=10)
    prepared = [prepare(p, config) for p in _series(3)]
    seen: list[tuple[int, int]] = []

    def on_epoch(e: StackEpoch) -> bool:
        seen.append((e.index, e.epoch))
        return e.index == 1 and e.epoch == 2

    many = fit_many(prepared, seeds=[0, 1, 2], on_epoch=on_epoch)
    assert isinstance(many[1], TrainingStopped) and many[1].epoch == 2
    assert [len(many[k].history) for k in (0, 2)] == [4, 4]
    assert (1, 3) not in seen and (0, 4) in seen and (2, 4) in seen
    assert _close(many[2].state_dict, fit(prepared[2], seed=2).state_dict) < TOL  # dropping 1 changed nothing


def test_should_stop_between_batches_stops_the_whole_stack():
    prepared = [prepare(p, tiny_config(epochs=5)) for p in _series(2)]
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) == 3

    with pytest.raises(TrainingStopped):
        fit_many(prepared, seeds=[0, 1], should_stop=should_stop)
    assert len(calls) == 3


def test_a_non_finite_loss_fails_only_its_own_model(monkeypatch):
    original = _Stack.forward
    prepared = [prepare(p, tiny_config(epochs=3)) for p in _series(3)]
    width = {"all": 3}

    def broken(self, x, drop=None):
        out = original(self, x, drop)
        if x.shape[0] == width["all"]:  # the second model of the full stack goes NaN
            out = out.clone()
            out[1] = float("nan")
        return out

    monkeypatch.setattr(_Stack, "forward", broken)
    many = fit_many(prepared, seeds=[0, 1, 2])
    assert isinstance(many[1], TrainingFailed) and "lower lr" in str(many[1])
    assert len(many[0].history) == len(many[2].history) == 3


def test_dropout_and_two_layers_stack_like_single_models():
    config = tiny_config(layers=2, dropout=0.2, epochs=3, patience=10)
    prepared = [prepare(p, config) for p in _series(3)]
    many = fit_many(prepared, seeds=[5, 6, 7])
    for prep, seed, fitted in zip(prepared, (5, 6, 7), many):
        assert _close(fitted.state_dict, fit(prep, seed=seed).state_dict) < TOL


@pytest.mark.parametrize("kernel", ["fused", "bmm"])
def test_a_stack_matches_pricelstm_forward(kernel):
    config = tiny_config(layers=2)
    nets = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        nets.append(PriceLSTM(config).eval())
    stack = _Stack(config, [n.state_dict() for n in nets], kernel=kernel)
    x = torch.randn(3, 5, config.window)
    with torch.no_grad():
        got = stack.forward(x)
        for k, net in enumerate(nets):
            assert torch.allclose(net(x[k].unsqueeze(-1))[0], got[k], atol=1e-6)
    assert all(_close(a, n.state_dict()) == 0.0 for a, n in zip(stack.state_dicts(), nets))


def test_the_bmm_kernel_fits_the_same_models():
    config = tiny_config(epochs=4, patience=10)
    prepared = [prepare(p, config) for p in _series(3)]
    for prep, seed, fitted in zip(prepared, (0, 1, 2), fit_many(prepared, seeds=[0, 1, 2], kernel="bmm")):
        alone = fit(prep, seed=seed)
        assert _close(fitted.state_dict, alone.state_dict) < 1e-4
        assert [h["epoch"] for h in fitted.history] == [h["epoch"] for h in alone.history]
