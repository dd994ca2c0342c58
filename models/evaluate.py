"""Backtest: one-step-ahead forecasts over held-out days, metrics, and the naive baselines.

Every forecast of price k uses prices[:k] only. Baselines on the same days:
persistence (p_k = p_{k-1}), drift (p_{k-1} plus the average daily change since the first
price), and always_up for direction (its accuracy is the base rate of up days). Error metrics
are on the price scale; MAPE is in percent; MASE divides by the training part's one-step naive
MAE. `no_edge` is True unless the model beats persistence on RMSE and its directional accuracy
exceeds the base rate by more than the noise band 1.96 * sqrt(p (1 - p) / n).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from models.errors import InsufficientData

if TYPE_CHECKING:
    from models.predict import Predictor


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


def backtest(
    predictor: Predictor,
    prices: np.ndarray,
    *,
    start: int,
    naive_mae: float,
    dates: Sequence[str] | None = None,
    levels: Sequence[int] = (80, 95),
) -> tuple[dict, list[dict]]:
    """Forecast prices[start:] one step ahead; return (flat metrics dict, per-day rows)."""
    prices = np.asarray(prices, dtype=np.float64)
    targets = np.arange(start, prices.size)
    if targets.size == 0:
        raise InsufficientData("test days=0: nothing to backtest", needed=start + 1, available=prices.size)
    f = predictor.forecast(prices, targets, levels)
    actual, last, predicted = prices[targets], f["last"], f["predicted"]
    drift = drift_forecast(prices, targets)
    up = actual > last
    base_rate = float(np.mean(up))
    n = int(targets.size)
    m = errors(actual, predicted, naive_mae)
    pers = errors(actual, last, naive_mae)
    dr = errors(actual, drift, naive_mae)
    metrics: dict = {"n_test": n, **m}
    metrics["directional_accuracy"] = float(np.mean((predicted > last) == up))
    metrics["brier"] = float(np.mean((f["prob_up"] - up) ** 2))
    for level in levels:
        inside = (actual >= f[f"low_{level}"]) & (actual <= f[f"high_{level}"])
        metrics[f"coverage_{level}"] = float(np.mean(inside))
    metrics.update({f"persistence_{k}": v for k, v in pers.items()})
    metrics.update({f"drift_{k}": v for k, v in dr.items()})
    metrics["drift_directional_accuracy"] = float(np.mean((drift > last) == up))
    metrics["base_rate"] = base_rate
    metrics["skill_rmse"] = 1.0 - m["rmse"] / pers["rmse"] if pers["rmse"] > 0 else 0.0
    band = 1.96 * np.sqrt(base_rate * (1.0 - base_rate) / n)
    metrics["direction_noise_band"] = float(band)
    edge = m["rmse"] < pers["rmse"] and metrics["directional_accuracy"] - base_rate > band
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


def score(predictor: Predictor, prices: np.ndarray, start: int) -> dict:
    """One-step-ahead RMSE/MAE of model and persistence over prices[start:] (registry comparisons)."""
    prices = np.asarray(prices, dtype=np.float64)
    needed = predictor.window + 1
    if start < needed or start >= prices.size:
        raise InsufficientData(
            f"start={start}: scoring needs window+1={needed} prices before it and at least one day after",
            needed=max(needed, start) + 1,
            available=int(prices.size),
        )
    targets = np.arange(start, prices.size)
    f = predictor.forecast(prices, targets, levels=(80,))
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
