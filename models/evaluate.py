"""Backtest metrics next to the naive baselines, computed on the same held-out days.

Every forecast of price k uses prices[:k] only. Baselines:
- persistence (p_k = p_{k-1}) and drift (p_{k-1} plus the average daily change since the first
  price) for the error metrics; MAPE is in percent; MASE divides by the training part's
  one-step naive MAE;
- the base rate for direction and P(up): the majority class of the training part (always up or
  always down, whichever was more common there) with the training up-rate as its P(up); always
  up is reported too;
- `ewma`: a RiskMetrics interval (EWMA volatility, decay 0.94, the whole history, Gaussian,
  centred on the last price) for coverage and width. Width is the mean of (high - low) / last
  price, in percent.

`no_edge` is True unless the model beats persistence on RMSE and its directional accuracy
exceeds the base rate's by more than the noise band 1.96 * sqrt(p (1 - p) / n).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Protocol

import numpy as np

from models.errors import InsufficientData


class Forecaster(Protocol):
    """What `score` needs: models.predict.Predictor (or a format-1 one) has it."""

    window: int

    def forecast(self, prices: np.ndarray, targets: np.ndarray, levels: Sequence[int] = ..., **kw) -> dict: ...


def errors(actual: np.ndarray, predicted: np.ndarray, naive_mae: float) -> dict[str, float]:
    """RMSE, MAE, MAPE (percent) and MASE of predictions on the price scale."""
    e = predicted - actual
    mae = float(np.mean(np.abs(e)))
    return {
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mae": mae,
        "mape": float(100.0 * np.mean(np.abs(e) / np.abs(actual))),
        "mase": mae / naive_mae if naive_mae > 0 else float("nan"),
    }


def drift_forecast(prices: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Random walk with drift estimated from prices[0] .. prices[k-1]."""
    last = prices[targets - 1]
    steps = np.maximum(targets - 1, 1)
    return last + (last - prices[0]) / steps


def interval_metrics(actual: np.ndarray, last: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[float, float]:
    """(coverage, mean width in percent of the last price) of one interval level."""
    inside = (actual >= low) & (actual <= high)
    return float(np.mean(inside)), float(100.0 * np.mean((high - low) / last))


def backtest(
    f: dict,
    prices: np.ndarray,
    *,
    start: int,
    naive_mae: float,
    base_prob_up: float,
    ewma_sigma: np.ndarray,
    dates: Sequence[str] | None = None,
    levels: Sequence[int] = (80, 95),
) -> tuple[dict, list[dict]]:
    """Metrics of forecasts `f` (a Predictor.forecast of targets start .. n-1) and the per-day rows."""
    prices = np.asarray(prices, dtype=np.float64)
    targets = np.arange(start, prices.size)
    if targets.size == 0:
        raise InsufficientData("test days=0: nothing to backtest", needed=start + 1, available=prices.size)
    actual, last, predicted = prices[targets], f["last"], f["predicted"]
    drift = drift_forecast(prices, targets)
    up = actual > last
    n = int(targets.size)
    m = errors(actual, predicted, naive_mae)
    pers = errors(actual, last, naive_mae)
    dr = errors(actual, drift, naive_mae)
    metrics: dict = {"n_test": n, **m}
    metrics["directional_accuracy"] = float(np.mean(f["up"] == up))
    metrics["brier"] = float(np.mean((f["prob_up"] - up) ** 2))
    for level in levels:
        cov, width = interval_metrics(actual, last, f[f"low_{level}"], f[f"high_{level}"])
        metrics[f"coverage_{level}"], metrics[f"width_{level}"] = cov, width
    metrics.update({f"persistence_{k}": v for k, v in pers.items()})
    metrics.update({f"drift_{k}": v for k, v in dr.items()})
    metrics["drift_directional_accuracy"] = float(np.mean((drift > last) == up))
    metrics["always_up_directional_accuracy"] = float(np.mean(up))
    base_up = base_prob_up >= 0.5
    base_accuracy = float(np.mean(up == base_up))
    metrics["base_rate_direction"] = "up" if base_up else "down"
    metrics["base_rate_prob_up"] = float(base_prob_up)
    metrics["base_rate_directional_accuracy"] = base_accuracy
    metrics["base_rate_brier"] = float(np.mean((base_prob_up - up) ** 2))
    metrics["base_rate"] = base_accuracy  # the number the verdict compares with
    for level in levels:
        z = NormalDist().inv_cdf(0.5 + level / 200.0)
        cov, width = interval_metrics(actual, last, last * np.exp(-z * ewma_sigma), last * np.exp(z * ewma_sigma))
        metrics[f"ewma_coverage_{level}"], metrics[f"ewma_width_{level}"] = cov, width
    metrics["skill_rmse"] = 1.0 - m["rmse"] / pers["rmse"] if pers["rmse"] > 0 else 0.0
    band = 1.96 * np.sqrt(base_accuracy * (1.0 - base_accuracy) / n)
    metrics["direction_noise_band"] = float(band)
    edge = m["rmse"] < pers["rmse"] and metrics["directional_accuracy"] - base_accuracy > band
    metrics["no_edge"] = not edge
    metrics["test_start"] = dates[start] if dates is not None else int(start)
    metrics["test_end"] = dates[-1] if dates is not None else int(prices.size - 1)
    rows = _rows(targets, actual, predicted, last, f, levels, dates)
    return metrics, rows


def _rows(targets, actual, predicted, last, f, levels, dates) -> list[dict]:
    columns = {"actual": actual, "predicted": predicted, "persistence": last}
    for level in levels:
        columns[f"low_{level}"] = f[f"low_{level}"]
        columns[f"high_{level}"] = f[f"high_{level}"]
    columns["prob_up"] = f["prob_up"]
    lists = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in columns.items()}
    keys = list(lists)
    labels = [dates[k] for k in targets] if dates is not None else targets.tolist()
    return [{"date": labels[i], **{k: lists[k][i] for k in keys}} for i in range(len(labels))]


def score(predictor: Forecaster, prices: np.ndarray, start: int, slots: np.ndarray | None = None) -> dict:
    """One-step-ahead RMSE/MAE of model and persistence over prices[start:] (registry comparisons).

    slots: intraday bars' categories (a predictor without a volatility profile ignores them)."""
    prices = np.asarray(prices, dtype=np.float64)
    needed = predictor.window + 1
    if start < needed or start >= prices.size:
        raise InsufficientData(
            f"start={start}: scoring needs window+1={needed} prices before it and at least one day after",
            needed=max(needed, start) + 1,
            available=int(prices.size),
        )
    targets = np.arange(start, prices.size)
    f = predictor.forecast(prices, targets, levels=(80,), **({"slots": slots} if slots is not None else {}))
    actual = prices[targets]
    model = errors(actual, f["predicted"], 1.0)
    pers = errors(actual, f["last"], 1.0)
    return {
        "n": int(targets.size),
        "rmse": model["rmse"],
        "mae": model["mae"],
        "persistence_rmse": pers["rmse"],
        "persistence_mae": pers["mae"],
        "skill_rmse": 1.0 - model["rmse"] / pers["rmse"] if pers["rmse"] > 0 else 0.0,
    }
