"""Bar sizes and market time of a series: frequencies, timestamps resolved to UTC, the bar grid, slots, targets.

A series has a frequency: `1d` (daily prices, one per session, stamped with the session's date) or
an intraday bar (`1m`, `5m`, `15m`, `1h`, ...; N minutes up to 720 or N hours up to 12), stamped
with the time the bar opens. Stored times are epoch seconds UTC (a daily price: midnight UTC of
its date); they are shown in the calendar's time zone. An intraday bar lies on its session's
grid: open + k x bar, for each segment between breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from service.calendars import DAY, Calendar, get_calendar, ts_day
from service.errors import InvalidInput

DAILY = "1d"
MAX_MINUTES = 720
FREQUENCY_PATTERN = r"^(1d|([1-9]|[1-9][0-9]|[1-6][0-9]{2}|7[01][0-9]|720)m|([1-9]|1[0-2])h)$"
FREQUENCY_RULE = "1d (daily) or an intraday bar: Nm (1-720 minutes) or Nh (1-12 hours), e.g. 1m, 5m, 15m, 1h"
_FREQUENCY_RE = re.compile(FREQUENCY_PATTERN)


def check_frequency(text: object) -> str:
    """A frequency in its canonical form (60m is 1h), or InvalidInput naming the value."""
    if not isinstance(text, str) or not _FREQUENCY_RE.fullmatch(text):
        raise InvalidInput(f"frequency={text!r}: give {FREQUENCY_RULE}", details={"field": "frequency", "value": text})
    return frequency_name(bar_seconds(text))


def bar_seconds(frequency: str) -> int:
    """Seconds per bar: 86,400 for 1d."""
    n, unit = int(frequency[:-1]), frequency[-1]
    return n * {"m": 60, "h": 3600, "d": DAY}[unit]


def frequency_name(seconds: int) -> str:
    if seconds >= DAY:
        return DAILY
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def is_daily(frequency: str | None) -> bool:
    return frequency in (None, DAILY)


# --- showing times ---------------------------------------------------------------------------

def label(ts: int, frequency: str, tz: str) -> str:
    """A stored time as the API shows it: YYYY-MM-DD for daily, ISO 8601 with the calendar's offset for bars."""
    if is_daily(frequency):
        return ts_day(ts).isoformat()
    return datetime.fromtimestamp(int(ts), ZoneInfo(tz)).isoformat()


def labels(ts: np.ndarray, frequency: str, tz: str) -> list[str]:
    """Many labels at once (vectorised for long series)."""
    ts = np.asarray(ts, dtype=np.int64)
    if is_daily(frequency):
        return np.datetime_as_string((ts // DAY).astype("datetime64[D]")).tolist()
    offsets = _offsets(ts, tz)
    wall = np.datetime_as_string((ts + offsets).astype("datetime64[s]"))
    unique, inverse = np.unique(offsets, return_inverse=True)
    names = np.array([("+" if o >= 0 else "-") + f"{abs(int(o)) // 3600:02d}:{abs(int(o)) // 60 % 60:02d}"
                      for o in unique])
    return np.strings.add(wall, names[inverse]).tolist()  # pandas' strftime took 10x longer


def _offsets(ts: np.ndarray, tz: str) -> np.ndarray:
    """Seconds east of UTC of tz at each time."""
    if tz == "UTC":
        return np.zeros(ts.size, dtype=np.int64)
    import pandas as pd

    utc = pd.DatetimeIndex((ts * 1_000_000_000).astype("datetime64[ns]"), tz="UTC")
    local = utc.tz_convert(tz).tz_localize(None).as_unit("s").asi8
    return local - ts


def moment(ts: int, frequency: str, tz: str) -> date | datetime:
    """A stored time as a date (daily) or an aware datetime in the calendar's zone."""
    if is_daily(frequency):
        return ts_day(ts)
    return datetime.fromtimestamp(int(ts), ZoneInfo(tz))


def local_dates(ts: np.ndarray, frequency: str, tz: str) -> np.ndarray:
    """The calendar-zone date of each time, as epoch seconds of its midnight UTC."""
    ts = np.asarray(ts, dtype=np.int64)
    if is_daily(frequency) or tz == "UTC":
        return ts // DAY * DAY
    return (ts + _offsets(ts, tz)) // DAY * DAY


def parse_moment(text: str) -> int:
    """Epoch seconds of a label (YYYY-MM-DD or ISO 8601 with an offset), for comparisons."""
    if len(text) == 10:
        return int((date.fromisoformat(text).toordinal() - date(1970, 1, 1).toordinal()) * DAY)
    moment_ = datetime.fromisoformat(text)
    if moment_.tzinfo is None:
        moment_ = moment_.replace(tzinfo=UTC)
    return int(moment_.timestamp())


# --- the grid of one calendar ----------------------------------------------------------------

def calendar_for(name: str, ts: np.ndarray, *, ahead: int = 30 * DAY) -> Calendar:
    """The calendar covering these times (and `ahead` seconds after the last, for the next target)."""
    ts = np.asarray(ts, dtype=np.int64)
    return get_calendar(name, int(ts.min()) - 10 * DAY, int(ts.max()) + ahead)


@dataclass(frozen=True)
class Grid:
    """Where each time falls: its segment, whether it is inside it, its bar index in the segment."""

    segment: np.ndarray  # (n,) index of the last segment opening at or before the time (-1: before all)
    inside: np.ndarray  # (n,) bool: open <= t < close
    on_grid: np.ndarray  # (n,) bool: (t - open) is a whole number of bars (intraday)
    bar: np.ndarray  # (n,) bars since the segment's open


def locate(cal: Calendar, ts: np.ndarray, seconds: int) -> Grid:
    ts = np.asarray(ts, dtype=np.int64)
    seg = np.searchsorted(cal.opens, ts, side="right") - 1
    ok = seg >= 0
    safe = np.where(ok, seg, 0)
    since = ts - cal.opens[safe]
    inside = ok & (ts < cal.closes[safe])
    return Grid(seg, inside, ok & (since % seconds == 0), np.where(ok, since // seconds, 0))


def session_bars(cal: Calendar, seconds: int) -> np.ndarray:
    """Bars per segment: ceil((close - open) / bar) (a 1h bar from 15:30 to a 16:00 close counts)."""
    return -(-(cal.closes - cal.opens) // seconds)


def bars_per_session(cal: Calendar, seconds: int) -> int:
    """The most bars any session has (segments after a break continue its count)."""
    per = session_bars(cal, seconds)
    sessions = np.cumsum(cal.first_of_session) - 1
    return int(np.bincount(sessions, weights=per).max()) if per.size else 1


# --- slots: what the model sees of the clock ------------------------------------------------

def slots(cal: Calendar, ts: np.ndarray, seconds: int, *, tod_count: int | None = None) -> tuple[np.ndarray, int]:
    """A category per bar for the volatility profile (models/seasonality.py), and how many there are.

    The bar's index in its session (time of day), except a bar that follows a market closure (the
    open after a night, a weekend, a holiday or a lunch break), which gets its own category
    `tod_count`: its return spans the closure, so its volatility is not that of one bar.
    """
    ts = np.asarray(ts, dtype=np.int64)
    grid = locate(cal, ts, seconds)
    per = session_bars(cal, seconds)
    # A segment after a break continues its session's bar count.
    start = np.cumsum(per) - per
    session_start = np.maximum.accumulate(np.where(cal.first_of_session, start, 0))
    offset = start - session_start
    seg = np.maximum(grid.segment, 0)
    n_tod = tod_count or bars_per_session(cal, seconds)
    tod = np.clip(offset[seg] + grid.bar, 0, n_tod - 1)
    closed_before = np.concatenate(([True], cal.opens[1:] > cal.closes[:-1]))  # a closure right before the segment
    prev = np.concatenate(([-1], seg[:-1]))
    after_closure = (seg != prev) & ((seg - prev > 1) | closed_before[seg])
    after_closure[0] = False
    return np.where(after_closure, n_tod, tod).astype(np.int64), n_tod + 1


def next_bar(cal: Calendar, last: int, seconds: int) -> int:
    """The next bar after the one at `last`: the next on the grid inside its segment, else the next open."""
    grid = locate(cal, np.array([last]), seconds)
    seg = int(grid.segment[0])
    if seg >= 0:
        candidate = int(cal.opens[seg]) + (int(grid.bar[0]) + 1) * seconds
        if candidate < int(cal.closes[seg]):
            return candidate
    after = int(np.searchsorted(cal.opens, last, side="right"))
    if after >= cal.opens.size:
        raise InvalidInput("no session after the series' last bar in the calendar's range",
                           details={"last": int(last)})
    return int(cal.opens[after])


def next_session(cal: Calendar, last_day: int) -> int:
    """The first session date after a daily price's date (epoch seconds of midnight UTC)."""
    sessions = cal.sessions
    at = int(np.searchsorted(sessions, last_day, side="right"))
    if at >= sessions.size:
        raise InvalidInput("no session after the series' last date in the calendar's range", details={})
    return int(sessions[at])


def next_target(calendar: str, frequency: str, last: int) -> int:
    """When the next price is due: the calendar's next session (daily) or next bar (intraday)."""
    cal = get_calendar(calendar, last - 10 * DAY, last + 30 * DAY)
    if is_daily(frequency):
        return next_session(cal, last)
    return next_bar(cal, last, bar_seconds(frequency))


# --- an upload meets its series ---------------------------------------------------------------

@dataclass
class Resolution:
    frequency: str
    source: str  # "inferred" | "given" | "stored"
    notes: list[str]


def resolve(upload, *, calendar: str, stored: str | None, given: str | None) -> Resolution:
    """Fill upload.ts (UTC) and upload.frequency from the series' calendar; refuse mixed frequencies.

    Daily rows (dates) are stored at midnight UTC of their date. Intraday timestamps with an offset
    are exact; naive ones are read in the calendar's time zone (a wall-clock time that does not
    exist there, or exists twice, at a daylight-saving change is refused). The frequency is the
    one given, else the series' own, else the commonest spacing of the upload's bars; every bar
    inside a session must lie on that frequency's grid from the session's open.
    """
    from service.cells import Errors

    errors = Errors(upload.where_key)
    wheres = upload.wheres or list(range(len(upload.keys)))
    keys = np.asarray(upload.keys, dtype=np.int64)
    tz = _tz(calendar)
    want = given or stored
    if is_daily(want) and (want is not None or not upload.timed):
        if upload.timed:
            timed_rows = np.flatnonzero(keys % DAY != 0)[:100] if not upload.aware else np.arange(min(keys.size, 100))
            for i in timed_rows:
                errors.add(wheres[i], "date", _wall(int(keys[i]), upload.aware), "a time of day in a daily series "
                           f"({'the series has' if stored else 'frequency='} 1d); intraday bars need a series of "
                           "their own")
            errors.raise_if_any()
        upload.ts, upload.frequency = keys, DAILY
        return Resolution(DAILY, "given" if given else "stored" if stored else "inferred", [])
    notes = []
    if not upload.timed and want is None:
        upload.ts, upload.frequency = keys, DAILY
        return Resolution(DAILY, "inferred", [])
    if upload.aware:
        ts = keys
    else:
        ts = _localize(keys, tz, wheres, errors)
        errors.raise_if_any()
        if keys.size:
            notes.append(f"timestamps without a UTC offset were read as {tz} time (the {calendar} calendar's zone)")
    if ts.size > 1 and not (np.diff(ts) > 0).all():
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        upload.columns = {c: [v[i] for i in order] for c, v in upload.columns.items()}
        wheres = [wheres[i] for i in order]
        upload.wheres, upload.keys = wheres, keys[order].tolist()
        same = np.flatnonzero(np.diff(ts) == 0)
        for i in same[:100]:
            errors.add(wheres[i + 1], "date", _wall(int(upload.keys[i + 1]), upload.aware),
                       f"the same instant as {upload.where_key} {wheres[i]}")
        errors.raise_if_any()
    inferred = _infer(ts)
    if given:
        frequency, source = given, "given"
    elif stored:
        frequency, source = stored, "stored"
        if inferred is not None and inferred != stored and ts.size >= 3:
            raise InvalidInput(f"mixed frequencies: the series has {stored} bars, this upload's bars are {inferred} "
                               f"apart (lines {wheres[0]}-{wheres[min(2, ts.size - 1)]} ...); upload {stored} bars",
                               details={"field": "frequency", "series": stored, "upload": inferred})
    elif inferred is None:
        raise InvalidInput(f"cannot infer the bar size from {ts.size} timestamp(s) with no two in one session; "
                           f"give ?frequency= ({FREQUENCY_RULE})", details={"field": "frequency"})
    else:
        frequency, source = inferred, "inferred"
    seconds = bar_seconds(frequency)
    cal = calendar_for(calendar, ts)
    grid = locate(cal, ts, seconds)
    off = np.flatnonzero(grid.inside & ~grid.on_grid)
    for i in off[:100]:
        opened = label(int(cal.opens[grid.segment[i]]), frequency, tz)
        errors.add(wheres[i], "date", _wall(int(upload.keys[i]), upload.aware),
                   f"not on the {frequency} grid of its {calendar} session (opening {opened[11:16]}): mixed "
                   f"frequencies in one series are refused")
    errors.count += max(0, off.size - 100)
    errors.raise_if_any()
    upload.ts, upload.frequency = ts, frequency
    return Resolution(frequency, source, notes)


def _tz(calendar: str) -> str:
    from service.calendars import timezone_of

    return timezone_of(calendar)


def _wall(key: int, aware: bool) -> str:
    day = ts_day(key).isoformat()
    rest = key % DAY
    return f"{day}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}" + ("Z" if aware else "")


def _localize(keys: np.ndarray, tz: str, wheres: list[int], errors) -> np.ndarray:
    """Wall-clock seconds in tz -> UTC epoch seconds; a time that does not exist or exists twice is an error."""
    if tz == "UTC" or keys.size == 0:
        return keys
    import pandas as pd

    local = pd.DatetimeIndex(keys.astype("datetime64[s]")).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    bad = np.flatnonzero(local.isna())
    for i in bad[:100]:
        errors.add(wheres[i], "date", _wall(int(keys[i]), False),
                   f"does not exist or exists twice in {tz} (a daylight-saving change): give this timestamp a UTC offset")
    if bad.size:
        return keys
    return local.as_unit("s").asi8.astype(np.int64)


def _infer(ts: np.ndarray) -> str | None:
    """The commonest spacing under a day between consecutive bars, as a frequency (None: none)."""
    if ts.size < 2:
        return None
    d = np.diff(ts)
    d = d[(d > 0) & (d < DAY)]
    if d.size == 0:
        return None
    values, counts = np.unique(d, return_counts=True)
    best = int(values[np.argmax(counts)])
    if best % 60 or best > MAX_MINUTES * 60:
        raise InvalidInput(f"the commonest spacing of the bars is {best} seconds: bars must be whole minutes, "
                           f"{FREQUENCY_RULE}", details={"field": "frequency"})
    return frequency_name(best)


def local_midnight(day: date, tz: str) -> int:
    """Epoch seconds of a date's midnight in tz (UTC for daily series)."""
    if tz == "UTC":
        return (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp())
