"""Intraday seasonality: a volatility factor per slot, fit on training bars, widens the bands at the open."""

from __future__ import annotations

import numpy as np
import pytest

from models import checkpoints
from models.lstm import LSTMConfig
from models.seasonality import Profile
from models.train import train

TINY = LSTMConfig(window=8, hidden_size=4, epochs=2, patience=1, batch_size=64)


def intraday(n_sessions: int = 60, per: int = 26, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Prices of sessions of `per` bars; the first bar of each session (after the night, slot `per`) is 5x as
    volatile, the next ones 2x, midday 1x. Returns (prices, slots)."""
    rng = np.random.default_rng(seed)
    tod = np.tile(np.arange(per), n_sessions)
    slots = np.where(tod == 0, per, tod)
    slots[0] = 0
    scale = np.where(tod == 0, 5.0, np.where(tod < 3, 2.0, 1.0))
    r = rng.standard_normal(tod.size) * scale * 0.001
    return 100 * np.exp(np.cumsum(r)), slots


def test_profile_recovers_the_pattern_and_averages_one():
    rng = np.random.default_rng(1)
    slots = rng.integers(0, 4, 20_000)
    r = rng.standard_normal(slots.size) * np.array([1.0, 1.0, 2.0, 4.0])[slots]
    p = Profile.fit(r, slots, 5)
    ratio = p.factors[3] / p.factors[0]
    assert 3.6 < ratio < 4.4 and p.factors[2] / p.factors[0] == pytest.approx(2, rel=0.1)
    assert np.mean(p.of(slots) ** 2) == pytest.approx(1.0)
    assert p.of(np.array([7]))[0] == 1.0  # never seen: neutral


def test_bands_widen_at_the_open_and_keep_coverage():
    prices, slots = intraday()
    result = train(prices, TINY, seed=0, slots=slots, n_slots=27)
    start = result.metrics["n_test"]
    test_slots = slots[-start:]
    widths = np.array([(row["high_80"] - row["low_80"]) / row["persistence"] for row in result.backtest])
    opening, midday = widths[test_slots == 26].mean(), widths[test_slots >= 3].mean()
    assert opening > 3 * midday
    assert abs(result.metrics["coverage_80"] - 0.8) < 0.06
    plain = train(prices, TINY, seed=0)  # no profile: one width for every bar, under-covering the open
    assert result.metrics["rmse"] <= result.metrics["persistence_rmse"] and plain.profile is None


def test_a_checkpoint_keeps_its_profile(tmp_path):
    prices, slots = intraday(n_sessions=60)
    result = train(prices, TINY, seed=0, slots=slots, n_slots=27)
    checkpoints.save(tmp_path / "m.safetensors", result)
    loaded = checkpoints.load(tmp_path / "m.safetensors")
    assert np.array_equal(loaded.profile.factors, result.profile.factors)
    at_open = np.append(slots[-200:], 26)  # the next bar opens a session
    at_noon = np.append(slots[-200:], 12)
    wide = loaded.predict(prices[-200:], slots=at_open).intervals[0]
    narrow = loaded.predict(prices[-200:], slots=at_noon).intervals[0]
    assert (wide[2] - wide[1]) > 3 * (narrow[2] - narrow[1])
    assert result.predictor().predict(prices[-200:], slots=at_open).intervals == loaded.predict(prices[-200:], slots=at_open).intervals
