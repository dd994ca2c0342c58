"""Metrics shown next to their baselines: the shape shared by the API, the CLI and the page."""

from __future__ import annotations

ERROR_METRICS = ("rmse", "mae", "mape", "mase")
MODEL_METRICS = (*ERROR_METRICS, "directional_accuracy", "brier", "coverage_80", "coverage_95")


def comparison(m: dict) -> dict:
    """Nest a flat metrics dict as model / persistence / drift / always_up, with the verdict."""
    return {
        "n_test": m.get("n_test"),
        "test_start": m.get("test_start"),
        "test_end": m.get("test_end"),
        "model": {k: m.get(k) for k in MODEL_METRICS},
        "persistence": {k: m.get(f"persistence_{k}") for k in ERROR_METRICS},
        "drift": {**{k: m.get(f"drift_{k}") for k in ERROR_METRICS},
                  "directional_accuracy": m.get("drift_directional_accuracy")},
        "always_up": {"directional_accuracy": m.get("base_rate")},
        "skill_rmse": m.get("skill_rmse"),
        "no_edge": m.get("no_edge"),
        "direction_noise_band": m.get("direction_noise_band"),
    }


def summary(m: dict) -> dict:
    """The short metrics block a forecast carries (same names as `pricecast backtest --json`)."""
    return {
        "n_test": m.get("n_test"),
        "rmse": m.get("rmse"),
        "persistence_rmse": m.get("persistence_rmse"),
        "skill_rmse": m.get("skill_rmse"),
        "directional_accuracy": m.get("directional_accuracy"),
        "base_rate": m.get("base_rate"),
        "coverage_80": m.get("coverage_80"),
        "coverage_95": m.get("coverage_95"),
    }
