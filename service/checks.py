"""Warnings about a series' shape: gaps, non-trading days, high below low, unadjusted splits.

Warnings never refuse an upload; they name the date and what looks wrong. Each rule lives in
one function here so the upload path, the CLI and the backtest say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np

MAX_WARNINGS_PER_KIND = 20
GAP_DAYS = 7  # a gap longer than a week is more than a weekend plus a holiday

# name -> price ratio before/after the split day (a 2:1 split halves the price).
SPLIT_RATIOS = {
    "2:1": 2.0, "3:2": 1.5, "3:1": 3.0, "4:1": 4.0, "5:1": 5.0, "7:1": 7.0, "8:1": 8.0, "10:1": 10.0, "20:1": 20.0,
    "1:2": 1 / 2, "2:3": 2 / 3, "1:3": 1 / 3, "1:4": 1 / 4, "1:5": 1 / 5, "1:7": 1 / 7, "1:8": 1 / 8,
    "1:10": 1 / 10, "1:20": 1 / 20,
}
_SPLIT_NAMES = list(SPLIT_RATIOS)
_SPLIT_LOGS = np.log(np.array(list(SPLIT_RATIOS.values())))
# The split test (see split_warnings): Student-t tails with 4 degrees of freedom for ordinary
# daily moves; a split is flagged when it makes the day this many times more likely, which is
# about the prior odds against a split on any given day (one every ten years of trading days).
_SPLIT_T_DOF = 4.0
_SPLIT_ODDS = 2500.0
_SPLIT_NEIGHBOURS = 20  # days on each side whose moves set the local volatility
_SPLIT_MIN_SIGMA = 0.005  # a flat or stale stretch still has this much daily volatility
_SPLIT_DEFAULT_SIGMA = 0.02  # a typical stock's daily volatility, for a day with no neighbours


def capped(messages: list[str], kind: str) -> list[str]:
    """At most MAX_WARNINGS_PER_KIND messages, then one line counting the rest."""
    if len(messages) <= MAX_WARNINGS_PER_KIND:
        return messages
    return messages[:MAX_WARNINGS_PER_KIND] + [f"... and {len(messages) - MAX_WARNINGS_PER_KIND} more {kind}"]


def ordinals(days: Sequence[date]) -> np.ndarray:
    """Proleptic Gregorian ordinals of the dates (1 is 0001-01-01, a Monday)."""
    return np.fromiter(map(date.toordinal, days), dtype=np.int64, count=len(days))


def non_trading_days(days: Sequence[date]) -> list[date]:
    """Dates on which the market is closed: weekends (an exchange calendar can replace this one function)."""
    return [days[i] for i in np.flatnonzero((ordinals(days) - 1) % 7 >= 5)]


def calendar_warnings(days: Sequence[date]) -> list[str]:
    """Warn about rows dated on a non-trading day."""
    closed = non_trading_days(days)
    return capped([f"{d}: a {d.strftime('%A')}, when markets are closed; check the dates" for d in closed],
                  "rows on non-trading days")


def gaps(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive dates (ascending) more than GAP_DAYS apart."""
    if len(days) < 2:
        return []
    return [(days[i], days[i + 1]) for i in np.flatnonzero(np.diff(ordinals(days)) > GAP_DAYS)]


def gap_warning(a: date, b: date) -> str:
    return f"gap of {(b - a).days} days between {a} and {b}"


def gap_warnings(days: Sequence[date]) -> list[str]:
    """Warn about gaps of more than GAP_DAYS between consecutive dates (ascending)."""
    return capped([gap_warning(a, b) for a, b in gaps(days)], "gaps")


def high_low_warnings(days: Sequence[date], high: Sequence[float | None], low: Sequence[float | None]) -> list[str]:
    """Warn about rows whose high is below their low."""
    bad = [d for d, h, lo in zip(days, high, low, strict=True) if h is not None and lo is not None and h < lo]
    return capped([f"{d}: high below low" for d in bad], "high-below-low rows")


def split_warnings(days: Sequence[date], close: Sequence[float]) -> list[str]:
    """Warn about day-over-day moves that an unadjusted stock split explains far better than the market.

    For the move r = log(close[t] / close[t-1]) and each split ratio k, the residual
    e = r + log(k) is what is left of the move once the split is undone. Measured in the series'
    own volatility around that day (_local_sigma), the day is flagged when, under fat-tailed
    (Student-t, 4 dof) daily moves, the residual is at least _SPLIT_ODDS times more likely than
    the move itself: the move is an extreme outlier and a split explains it far better. A 2:1
    split on a day the stock also moved 9% (a ratio of 1.82 or 2.2) is still flagged on a series
    with typical 1-2% daily moves; a crash day of -23% is not (no ratio explains it), nor is a
    volatility index doubling in a turbulent week (its neighbours move 10% a day too).
    """
    c = np.asarray(close, dtype=np.float64)
    if c.size < 2:
        return []
    r = np.diff(np.log(c))
    size = np.abs(r)
    hits = []
    # Cheap screen first: only moves of 20% or more that a split explains at least half of.
    for i in np.flatnonzero(size >= 0.2):
        residual = np.abs(r[i] + _SPLIT_LOGS)
        best = int(residual.argmin())
        e = float(residual[best])
        if e > size[i] / 2:
            continue
        sigma = _local_sigma(size[max(0, i - _SPLIT_NEIGHBOURS):i], size[i + 1:i + 1 + _SPLIT_NEIGHBOURS])
        if _t_density_ratio(e / sigma, float(r[i]) / sigma) < _SPLIT_ODDS:
            continue
        name = _SPLIT_NAMES[best]
        kind = "split" if SPLIT_RATIOS[name] > 1 else "reverse split"
        hits.append(f"{days[i + 1]}: close moved {c[i]:g} -> {c[i + 1]:g} (x{c[i + 1] / c[i]:.3g}), close to a "
                    f"{name} {kind}; the series looks unadjusted for a split (upload adj_close, or adjusted prices)")
    return capped(hits, "split-like moves")


def _local_sigma(before: np.ndarray, after: np.ndarray) -> float:
    """Daily volatility around a day: the larger of the typical move before it and after it.

    The larger side, because a real shock raises the volatility that follows it (markets
    cluster), while a split leaves the size of daily log moves as it was. The median absolute
    move / 0.6745 is the standard deviation for normal moves and ignores the odd outlier.
    """
    sides = [float(np.median(side)) / 0.6745 for side in (before, after) if side.size]
    return max(max(sides, default=_SPLIT_DEFAULT_SIGMA), _SPLIT_MIN_SIGMA)


def _t_density_ratio(x: float, y: float) -> float:
    """Student-t density at x over the density at y (same scale)."""
    nu = _SPLIT_T_DOF
    return math.exp((nu + 1) / 2 * (math.log1p(y * y / nu) - math.log1p(x * x / nu)))


def short_series_warning(rows: int, needed: int) -> list[str]:
    """Warn when a series has fewer prices than training needs with default settings."""
    if rows >= needed:
        return []
    return [f"the series has {rows} prices; training with default settings needs at least {needed}: "
            "it is stored, but too short to train yet"]
