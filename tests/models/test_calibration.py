import math

import numpy as np
import pytest

from models.calibration import Calibration, PointRule, check_levels, conformal_bounds, slope_through_origin
from models.errors import ConfigError
from models.lstm import LSTMConfig
from models.train import train
from tests.models.synthetic import regime_prices


def normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_intervals_and_prob_up_are_calibrated_on_gaussian_residuals():
    rng = np.random.default_rng(0)
    n = 20000
    rng.uniform(0.005, 0.03, n)  # draws kept so the residual stream below is unchanged
    rng.normal(0, 0.005, n)
    z = rng.normal(size=n)
    cal = Calibration.fit(residuals=z, p0=0.5, kappa=1.0)
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


def test_with_no_edge_prob_up_is_the_base_rate_exactly():
    cal = Calibration.fit(residuals=np.random.default_rng(1).normal(size=500), p0=0.46, kappa=0.0)
    np.testing.assert_array_equal(cal.prob_up(np.array([0.01, -0.02, 0.0]), np.array([0.01, 0.01, 0.01])), 0.46)
    # and a zero forecast never moves it, whatever kappa is
    assert Calibration(z=cal.z, p0=0.46, kappa=1.0).prob_up(np.zeros(1), np.ones(1))[0] == 0.46


def test_kappa_is_kept_only_when_validation_shows_it():
    rng = np.random.default_rng(2)
    shift = rng.normal(0, 0.1, 300)
    useless = rng.random(300) < 0.5
    assert Calibration.fit_kappa(useless, 0.5, shift)[0] == 0.0
    informative = rng.random(300) < 0.5 + shift
    kappa, t = Calibration.fit_kappa(informative, 0.5, shift)
    assert t > 3.09 and 0.6 < kappa <= 1.0


def test_levels_are_validated_and_sorted():
    assert check_levels([95, 80, 80]) == (80, 95)
    for bad in ([0], [100], [50.5], [True]):
        with pytest.raises(ConfigError, match="levels="):
            check_levels(bad)


def test_conformal_bounds_use_the_corrected_ranks():
    z = np.arange(1.0, 40.0)  # 39 residuals
    assert conformal_bounds(z, 80) == (4.0, 36.0)  # ranks floor(40 * 0.1) and ceil(40 * 0.9)
    assert conformal_bounds(z[:5], 95) == (1.0, 5.0)  # past the pool: its extremes


def test_slope_and_its_robust_t():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000)
    b, t = slope_through_origin(2 * x + rng.normal(size=1000), x)
    assert b == pytest.approx(2.0, abs=0.1) and t > 20
    assert slope_through_origin(np.ones(3), np.zeros(3)) == (0.0, 0.0)


def _validation(rng, n, edge):
    sigma = rng.uniform(0.005, 0.02, n)
    g = rng.normal(size=n)  # the net's output, in units of sigma
    r = sigma * (edge * g + rng.normal(size=n))
    return r, sigma, g


def test_point_rule_falls_back_to_persistence_exactly():
    rng = np.random.default_rng(4)
    r, sigma, g = _validation(rng, 400, edge=0.0)
    rule = PointRule.choose(r=r, sigma=sigma, g=g, center=0.0, drift=0.03, stale=np.zeros(400, bool))
    assert (rule.choice, rule.alpha, rule.drift) == ("persistence", 0.0, 0.0)
    assert np.all(rule.mu(sigma, g, np.zeros(400, bool)) == 0.0)


def test_point_rule_keeps_a_real_edge_and_zeroes_stale_windows():
    rng = np.random.default_rng(5)
    r, sigma, g = _validation(rng, 400, edge=0.5)
    stale = np.zeros(400, bool)
    rule = PointRule.choose(r=r, sigma=sigma, g=g, center=0.0, drift=0.0, stale=stale)
    assert rule.choice == "model" and rule.alpha == pytest.approx(0.5, abs=0.1) and rule.t_model > 5
    stale[:10] = True
    mu = rule.mu(sigma, g, stale)
    assert np.all(mu[:10] == 0.0) and np.all(mu[10:] != 0.0)


def test_point_rule_takes_the_drift_only_when_it_is_there():
    rng = np.random.default_rng(6)
    sigma = np.full(400, 0.01)
    g = rng.normal(size=400) * 0.1
    noise = rng.normal(size=400) * 0.01
    kept = PointRule.choose(r=0.005 + noise, sigma=sigma, g=g, center=0.0, drift=0.5, stale=np.zeros(400, bool))
    assert kept.choice == "drift" and kept.drift == 0.5
    gone = PointRule.choose(r=-0.005 + noise, sigma=sigma, g=g, center=0.0, drift=0.5, stale=np.zeros(400, bool))
    assert gone.choice == "persistence"


def test_coverage_holds_when_volatility_switches_regimes():
    """Calm and stormy regimes alternate; intervals adapt so test coverage stays near nominal."""
    config = LSTMConfig(window=16, hidden_size=4, epochs=2, patience=1, batch_size=128, lr=1e-2)
    result = train(regime_prices(1500, seed=2), config, seed=0)
    m = result.metrics
    assert abs(m["coverage_80"] - 0.80) < 0.04
    assert abs(m["coverage_95"] - 0.95) < 0.03
    rows = result.backtest
    widths = np.array([r["high_80"] / r["persistence"] - r["low_80"] / r["persistence"] for r in rows])
    assert widths.max() > 2.5 * widths.min()  # the width follows the regime
