import math

import numpy as np
import pytest

from models.calibration import Calibration, check_levels, fit_alpha
from models.errors import ConfigError
from models.lstm import LSTMConfig
from models.train import train
from tests.models.synthetic import regime_prices


def normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_intervals_and_prob_up_are_calibrated_on_gaussian_residuals():
    rng = np.random.default_rng(0)
    n = 20000
    sigma = rng.uniform(0.005, 0.03, n)  # volatility known at forecast time
    mu = rng.normal(0, 0.005, n)
    cal = Calibration.fit(alpha=1.0, actual=mu + sigma * rng.normal(size=n), mu=mu, sigma=sigma)
    # fresh days from the same process
    mu2, sigma2 = rng.normal(0, 0.005, n), rng.uniform(0.005, 0.03, n)
    r2 = mu2 + sigma2 * rng.normal(size=n)
    for level, zlo, zhi in cal.quantiles([50, 80, 95]):
        inside = (r2 >= mu2 + sigma2 * zlo) & (r2 <= mu2 + sigma2 * zhi)
        assert abs(inside.mean() - level / 100) < 0.015
    p = cal.prob_up(mu2, sigma2)
    expected = np.array([1 - normal_cdf(-m / s) for m, s in zip(mu2[:200], sigma2[:200])])
    np.testing.assert_allclose(p[:200], expected, atol=0.02)
    for lo, hi in [(0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.0)]:  # reliability by bin
        mask = (p >= lo) & (p < hi)
        assert abs(np.mean(r2[mask] > 0) - p[mask].mean()) < 0.03


def test_levels_are_validated_and_sorted():
    assert check_levels([95, 80, 80]) == (80, 95)
    for bad in ([0], [100], [50.5], [True]):
        with pytest.raises(ConfigError, match="levels="):
            check_levels(bad)


def test_fit_alpha_shrinks_useless_forecasts():
    rng = np.random.default_rng(0)
    y = rng.normal(size=5000)
    assert fit_alpha(y, rng.normal(size=5000)) < 0.05
    assert fit_alpha(y, y) == pytest.approx(1.0)
    assert fit_alpha(y, 2 * y) == pytest.approx(0.5)
    assert fit_alpha(y, -y) == 0.0 and fit_alpha(y, np.zeros(5000)) == 0.0


def test_coverage_holds_when_volatility_switches_regimes():
    """Calm and stormy regimes alternate; intervals adapt so test coverage stays near nominal."""
    config = LSTMConfig(window=16, hidden_size=4, epochs=2, patience=1, batch_size=128, lr=1e-2)
    result = train(regime_prices(1500, seed=2), config, seed=0)
    m = result.metrics
    assert abs(m["coverage_80"] - 0.80) < 0.06
    assert abs(m["coverage_95"] - 0.95) < 0.04
    rows = result.backtest
    widths = np.array([r["high_80"] / r["persistence"] - r["low_80"] / r["persistence"] for r in rows])
    assert widths.max() > 2.5 * widths.min()  # the width follows the regime
