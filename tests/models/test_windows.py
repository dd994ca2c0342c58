import numpy as np
import pytest

from models.errors import ConfigError, InsufficientData
from models.train import split, train
from models.windows import check_prices, choose_price_field, log_returns, return_windows, robust_scale
from tests.models.synthetic import ar1_prices, tiny_config


def test_choose_price_field():
    full = np.array([1.0, 2.0])
    assert choose_price_field({"close": full, "adj_close": full}) == "adj_close"
    assert choose_price_field({"close": full, "adj_close": np.array([1.0, np.nan])}) == "close"
    assert choose_price_field({"close": full, "adj_close": None}) == "close"
    assert choose_price_field({"close": full}) == "close"


def test_check_prices_names_the_bad_value():
    with pytest.raises(ConfigError, match=r"prices\[2\]=0.0"):
        check_prices(np.array([1.0, 2.0, 0.0]))


def test_return_windows_match_a_loop():
    p = np.exp(np.cumsum(np.random.default_rng(0).normal(size=50) * 0.01))
    r = log_returns(p)
    targets = np.array([9, 20, 49, 50])  # 50 = the next, unknown day
    got = return_windows(r, 8, targets)
    for row, k in zip(got, targets):
        np.testing.assert_allclose(row, np.log(p[k - 8 : k] / p[k - 9 : k - 1]), rtol=1e-9, atol=1e-15)
    with pytest.raises(InsufficientData) as info:
        return_windows(r, 8, np.array([8]))
    assert info.value.needed == 9


def test_robust_scale_ignores_a_split_jump():
    r = np.random.default_rng(0).normal(0, 0.01, 1000)
    clean = robust_scale(r)
    r[500] = np.log(0.5)  # 2:1 split left unadjusted
    assert robust_scale(r) == pytest.approx(clean, rel=0.01)
    assert robust_scale(np.zeros(10)) > 0 and robust_scale(np.zeros(0)) > 0


def test_statistics_come_from_training_returns_only():
    """Fails if anything after the training part (validation or test) moves the statistics."""
    config = tiny_config(epochs=1)
    prices = ar1_prices(400, seed=5)
    s = split(prices.size, config)
    changed = prices.copy()
    changed[s.train_end :] *= np.exp(np.random.default_rng(1).normal(0, 0.2, prices.size - s.train_end).cumsum())
    a = train(prices, config, seed=0)
    b = train(changed, config, seed=0)
    assert a.vol == b.vol and a.calibration.p0 == b.calibration.p0
    train_r = log_returns(prices[: s.train_end])
    assert a.vol.clip == pytest.approx(10 * robust_scale(train_r))
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


def test_test_period_never_reaches_the_weights():
    config = tiny_config(epochs=2)
    prices = ar1_prices(400, seed=6)
    s = split(prices.size, config)
    changed = prices.copy()
    changed[s.test_start :] *= 3.0
    a = train(prices, config, seed=0)
    b = train(changed, config, seed=0)
    for name, tensor in a.state_dict.items():
        assert tensor.equal(b.state_dict[name]), name
