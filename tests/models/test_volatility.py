import math

import numpy as np
import pytest

from models.lstm import LSTMConfig
from models.train import train
from models.volatility import Volatility, ewma_baseline_sigma, horizon
from tests.models.synthetic import vol_jump_prices


def recursive(r, vol: Volatility, start: int) -> float:
    """The textbook EWMA recursion over r[start:], started from init_var."""
    var = vol.init_var
    for x in r[start:]:
        var = vol.decay * var + (1 - vol.decay) * min(x * x, vol.clip**2)
    return math.sqrt(var)


def test_the_closed_form_is_the_ewma_recursion_over_the_horizon():
    r = np.random.default_rng(0).normal(0, 0.01, 400)
    vol = Volatility(decay=0.94, init_var=0.02**2, clip=0.05)
    path = vol.sigma_path(r)
    h = vol.horizon
    assert h == horizon(0.94) == 149 and 0.94**h < 1e-4 <= 0.94 ** (h - 1)
    for j in (0, 1, 10, h, 399, 400):
        assert path[j] == pytest.approx(recursive(r[:j], vol, max(0, j - h)), rel=1e-12)
        assert vol.next_sigma(r[:j]) == pytest.approx(path[j], rel=1e-12)
    assert vol.next_sigma(r) == pytest.approx(vol.next_sigma(r[-h:]), rel=1e-12)  # only the horizon matters


def test_one_split_jump_counts_as_a_capped_return():
    r = np.random.default_rng(1).normal(0, 0.01, 300)
    vol = Volatility.fit(r[:200], decay=0.94, robust_scale=0.01)
    jumped = r.copy()
    jumped[250] = np.log(0.5)
    ratio = vol.sigma_path(jumped)[251] / vol.sigma_path(r)[251]
    assert 1.5 < ratio < 3.5  # without the cap: 17x
    assert vol.sigma_path(jumped)[300] / vol.sigma_path(r)[300] < 1.5  # and it fades


def test_a_flat_series_has_a_tiny_positive_volatility():
    vol = Volatility.fit(np.zeros(100), decay=0.94, robust_scale=1e-4)
    assert np.all(vol.sigma_path(np.zeros(300)) > 0)


def test_baseline_is_the_whole_history_recursion():
    r = np.random.default_rng(2).normal(0, 0.01, 600)
    base = ewma_baseline_sigma(r, init_var=1e-4)
    var = 1e-4
    for x in r:
        var = 0.94 * var + 0.06 * x * x
    assert base[-1] == pytest.approx(math.sqrt(var), rel=1e-9)


def test_intervals_keep_up_when_volatility_triples_inside_the_test_part():
    """Training and validation are calm; volatility triples half-way through the test days."""
    config = LSTMConfig(window=16, hidden_size=4, epochs=2, patience=1, batch_size=256, lr=1e-2)
    covs, widths = [], []
    for seed in range(3):
        m = train(vol_jump_prices(2000, jump_at=0.9, seed=seed), config, seed=0).metrics
        covs.append((m["coverage_80"], m["coverage_95"], m["ewma_coverage_80"], m["ewma_coverage_95"]))
        widths.append((m["width_80"] / m["ewma_width_80"], m["width_95"] / m["ewma_width_95"]))
    cov = np.mean(covs, axis=0)
    assert abs(cov[0] - 0.80) <= 0.03 and abs(cov[1] - 0.95) <= 0.03
    # the same volatility as the RiskMetrics baseline, so the widths differ only by calibration
    assert np.all(np.array(widths) < 1.10)
