"""Metrics shown next to their baselines: the shape shared by the API, the CLI and the page."""

from __future__ import annotations

ERROR_METRICS = ("rmse", "mae", "mape", "mase")
MODEL_METRICS = (*ERROR_METRICS, "directional_accuracy", "brier", "coverage_80", "coverage_95",
                 "width_80", "width_95")
INTERVAL_METRICS = ("coverage_80", "coverage_95", "width_80", "width_95")


def comparison(m: dict) -> dict:
    """Nest a flat metrics dict as model / persistence / drift / base_rate / always_up / ewma, with the verdict.

    Versions trained before the base rate was the training part's majority class stored
    `base_rate` as the always-up accuracy and have no base_rate / ewma blocks: those are None.
    """
    new = "base_rate_direction" in m
    return {
        "n_test": m.get("n_test"),
        "test_start": m.get("test_start"),
        "test_end": m.get("test_end"),
        "point_forecast": m.get("point_forecast"),
        "model": {k: m.get(k) for k in MODEL_METRICS},
        "persistence": {k: m.get(f"persistence_{k}") for k in ERROR_METRICS},
        "drift": {**{k: m.get(f"drift_{k}") for k in ERROR_METRICS},
                  "directional_accuracy": m.get("drift_directional_accuracy")},
        "base_rate": {"direction": m.get("base_rate_direction"), "prob_up": m.get("base_rate_prob_up"),
                      "directional_accuracy": m.get("base_rate_directional_accuracy"),
                      "brier": m.get("base_rate_brier")} if new else None,
        "always_up": {"directional_accuracy": m.get("always_up_directional_accuracy", m.get("base_rate"))},
        "ewma": {k: m.get(f"ewma_{k}") for k in INTERVAL_METRICS} if new else None,
        "skill_rmse": m.get("skill_rmse"),
        "no_edge": m.get("no_edge"),
        "direction_noise_band": m.get("direction_noise_band"),
    }


def summary(m: dict) -> dict:
    """The short metrics block a forecast carries (same names as the flat registry metrics)."""
    keys = ("n_test", "point_forecast", "rmse", "persistence_rmse", "skill_rmse", "directional_accuracy",
            "base_rate", "base_rate_direction", "always_up_directional_accuracy", "brier", "base_rate_brier",
            "coverage_80", "coverage_95", "width_80", "width_95", "ewma_coverage_80", "ewma_coverage_95",
            "ewma_width_80", "ewma_width_95")
    return {k: m.get(k) for k in keys}
