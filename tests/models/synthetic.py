"""Synthetic price series and tiny configs for the models/ tests."""

from __future__ import annotations

import numpy as np

from models.lstm import LSTMConfig


def ar1_prices(n: int = 600, *, phi: float = 0.5, sigma: float = 0.01, seed: int = 0, start: float = 100.0) -> np.ndarray:
    """Prices whose log returns follow AR(1); the loop is over time steps of test data only."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, sigma, n - 1)
    r = np.zeros(n - 1)
    for t in range(1, n - 1):
        r[t] = phi * r[t - 1] + eps[t]
    return start * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


def regime_prices(n: int = 1200, *, seed: int = 0) -> np.ndarray:
    """iid Gaussian returns whose volatility switches between calm and stormy regimes."""
    rng = np.random.default_rng(seed)
    sigma = np.where((np.arange(n - 1) // 150) % 2 == 0, 0.005, 0.02)
    r = rng.normal(0.0, 1.0, n - 1) * sigma
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


def tiny_config(**overrides) -> LSTMConfig:
    base = dict(window=8, hidden_size=4, layers=1, epochs=3, patience=2, batch_size=64, lr=1e-2)
    base.update(overrides)
    return LSTMConfig(**base).validate()


def vol_jump_prices(n: int = 1500, *, jump_at: float = 0.9, factor: float = 3.0, sigma: float = 0.01,
                    seed: int = 0) -> np.ndarray:
    """iid Gaussian returns whose volatility multiplies by `factor` at `jump_at` (a fraction of the days)."""
    rng = np.random.default_rng(seed)
    s = np.full(n - 1, sigma)
    s[int((n - 1) * jump_at) :] *= factor
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 1.0, n - 1) * s)]))


def random_walk_prices(n: int = 600, *, sigma: float = 0.01, drift: float = 0.0, seed: int = 0) -> np.ndarray:
    """A geometric random walk: no forecaster beats persistence on it."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(drift, sigma, n - 1))]))
