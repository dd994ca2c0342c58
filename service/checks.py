"""Warnings about a series' shape: missing sessions or bars, rows off the calendar, high below low, splits.

Warnings never refuse an upload; they name the date and what looks wrong. Each rule lives in
one function here so the upload path, the CLI and the backtest say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_WARNINGS_PER_KIND = 20

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


def session_warnings(cal: Any, frequency: str, ts: np.ndarray, new: np.ndarray) -> list[str]:
    """Rows on non-sessions and missing sessions (daily) or bars (intraday), judged by the series' calendar.

    `ts`: the stored series' times around the upload (ascending, epoch seconds UTC), `new`: which of
    them the upload wrote. A row off the calendar is named when it is new; a run of missing
    sessions or bars is named when a new row bounds it. The overnight gap, weekends and holidays
    are not missing: the calendar has no session there.
    """
    from service import bars

    ts = np.asarray(ts, dtype=np.int64)
    new = np.asarray(new, dtype=bool)
    if ts.size == 0:
        return []
    tz, name = cal.tz, cal.name
    out: list[str] = []
    span = cal.fallback(int(ts.min()), int(ts.max()))
    if span is not None:
        out.append(f"{name}: the exchange_calendars library knows its sessions only from "
                   f"{bars.ts_day(cal.evaluable[0])} to {bars.ts_day(cal.evaluable[1])}; days outside that "
                   f"(here {span[0]} .. {span[1]}) are judged as weekdays")
    if bars.is_daily(frequency):
        sessions = cal.sessions
        at = np.searchsorted(sessions, ts)
        on = (at < sessions.size) & (sessions[np.minimum(at, sessions.size - 1)] == ts)
        off = [bars.ts_day(int(t)) for t in ts[new & ~on]]
        out += capped([f"{d}: a {d.strftime('%A')}, not a {name} session "
                       f"({'a weekend' if d.weekday() >= 5 else 'a holiday or closure'}); check the dates"
                       for d in off], "rows on non-sessions")
        between = np.searchsorted(sessions, ts[1:]) - np.searchsorted(sessions, ts[:-1], side="right")
        runs = np.flatnonzero((between > 0) & (new[1:] | new[:-1]))
        messages = []
        for i in runs:
            lo, hi = np.searchsorted(sessions, ts[i], side="right"), np.searchsorted(sessions, ts[i + 1])
            missing = [bars.ts_day(int(d)).isoformat() for d in sessions[lo:min(hi, lo + 5)]]
            more = f", ... ({int(between[i]) - 5} more)" if between[i] > 5 else ""
            messages.append(f"{int(between[i])} {name} session(s) missing between {bars.ts_day(int(ts[i]))} and "
                            f"{bars.ts_day(int(ts[i + 1]))}: {', '.join(missing)}{more}")
        return out + capped(messages, "runs of missing sessions")
    seconds = bars.bar_seconds(frequency)
    grid = bars.locate(cal, ts, seconds)
    outside = np.flatnonzero(new & ~grid.inside)
    out += capped([f"{bars.label(int(ts[i]), frequency, tz)}: outside the {name} sessions (bars are stamped "
                   f"with the time they open); check the times" for i in outside], "bars outside sessions")
    per = bars.session_bars(cal, seconds)
    start = np.concatenate(([0], np.cumsum(per)[:-1]))
    seg = np.maximum(grid.segment, 0)
    index = np.where(grid.inside, start[seg] + grid.bar, -1)  # the bar's number over the whole calendar
    pair = (index[1:] >= 0) & (index[:-1] >= 0) & (new[1:] | new[:-1])
    gap = np.where(pair, index[1:] - index[:-1] - 1, 0)
    messages = []
    for i in np.flatnonzero(gap > 0):
        sessions = int(np.count_nonzero(cal.first_of_session[seg[i] + 1:seg[i + 1] + 1]))
        whole = f", {sessions - 1} whole session(s)" if sessions > 1 else ""
        messages.append(f"{int(gap[i])} missing {frequency} bar(s) between {bars.label(int(ts[i]), frequency, tz)} "
                        f"and {bars.label(int(ts[i + 1]), frequency, tz)}{whole}")
    return out + capped(messages, "runs of missing bars")


def high_low_warnings(days: Sequence, high: Sequence[float | None], low: Sequence[float | None]) -> list[str]:
    """Warn about rows whose high is below their low (`days`: a label per row)."""
    bad = [i for i, (h, lo) in enumerate(zip(high, low, strict=True)) if h is not None and lo is not None and h < lo]
    return capped([f"{days[i]}: high below low" for i in bad], "high-below-low rows")


def split_warnings(days: Sequence, close: Sequence[float]) -> list[str]:
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
