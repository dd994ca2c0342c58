"""Market calendars: when an exchange is open, as numpy arrays of UTC epoch seconds, cached per process.

A series has a calendar: an exchange from the `exchange_calendars` library (XNYS, XLON, XTKS, ...),
`24/7` (crypto: every day, midnight to midnight UTC) or `weekdays` (FX, commodities: Monday to
Friday, midnight to midnight UTC). The last two are computed here for any date; the library's
exchanges are built for the years a request needs, rounded out to decades and clamped to what
the library can evaluate, and kept per process (a build costs 0.3-0.8 s, importing the library
about 1 s: both happen once per calendar and process, never per request).

A day outside an exchange's evaluable range (XHKG after 2049, XTKS before 1997) is taken as a
weekday session in the exchange's time zone, and upload warnings say so (`Calendar.fallback`).

Everything downstream works on `Calendar`: sessions split into segments at lunch breaks (XTKS,
XHKG), each with its open and close as epoch seconds, and the session's date.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from service.errors import InvalidInput

log = logging.getLogger("pricecast.calendars")
DAY = 86_400
OWN_CALENDARS = ("24/7", "weekdays")  # computed here, for any date
DEFAULT_CALENDAR = "XNYS"
YEAR_MIN, YEAR_MAX = 1700, 2200  # the service's date range (service/cells.py) and the day after it
_BLOCK = 10  # exchanges are built for whole decades
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_ts(day: date) -> int:
    """Epoch seconds of a date's midnight UTC: how a daily price's date is stored."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY


def ts_day(ts: int) -> date:
    """The UTC date of epoch seconds (the date of a daily price)."""
    return date.fromordinal(int(ts) // DAY + _EPOCH_ORDINAL)


@functools.cache
def _library():
    import exchange_calendars  # about 1 s: imported only when an exchange is first needed

    return exchange_calendars


def _factory(name: str):
    """The library's calendar class for a name or alias (XNAS is XNYS's), or None."""
    lib = _library()
    dispatcher = lib.calendar_utils.global_calendar_dispatcher
    try:
        canonical = lib.resolve_alias(name)
    except Exception:  # noqa: BLE001 - an unknown name
        return None
    return getattr(dispatcher, "_calendar_factories", {}).get(canonical)


@functools.cache
def calendar_names() -> tuple[str, ...]:
    """Every calendar a series may have: the library's exchanges and their aliases (XNAS, NYSE, LSE, ...) and ours."""
    names = set(_library().get_calendar_names(include_aliases=True)) | set(OWN_CALENDARS)
    return tuple(sorted(names, key=lambda n: (n not in OWN_CALENDARS, n.lower())))


CALENDAR_RULE = ("an exchange code from the exchange_calendars library (e.g. XNYS, XNAS, XLON, XTKS), "
                 "24/7 (crypto) or weekdays (FX, commodities)")


def check_calendar(name: object) -> str:
    """The calendar name if it is one this service knows, else InvalidInput naming it."""
    if isinstance(name, str) and name in calendar_names():
        return name
    hint = ""
    if isinstance(name, str):
        upper = name.strip().upper()
        resolved = None
        try:
            resolved = _library().resolve_alias(upper) if upper not in calendar_names() else upper
        except Exception:  # noqa: BLE001 - an unknown alias: no hint
            resolved = None
        if resolved in calendar_names():
            hint = f"; did you mean {resolved}?"
    raise InvalidInput(f"calendar={name!r}: unknown; give {CALENDAR_RULE}{hint}",
                       details={"field": "calendar", "value": name})


def timezone_of(name: str) -> str:
    """The IANA time zone a calendar's times are shown in (and naive timestamps are read in)."""
    if name in OWN_CALENDARS:
        return "UTC"
    tz = getattr(_factory(name), "tz", None)
    return str(getattr(tz, "key", tz)) if tz is not None else "UTC"


class CalendarUnbuildable(RuntimeError):
    """The library knows the calendar's name but fails to build it for the years asked for."""


@dataclass(frozen=True)
class Calendar:
    """Sessions of one calendar over [first, last] (session dates), as segments between breaks.

    opens/closes: (n,) int64 epoch seconds of each segment; session: (n,) int64 epoch seconds of
    the segment's session date (midnight UTC of that date, like daily prices); first_of_session:
    (n,) bool. `fallback` names the days taken as plain weekdays (outside the library's range).
    """

    name: str
    tz: str
    opens: np.ndarray
    closes: np.ndarray
    session: np.ndarray
    first_of_session: np.ndarray
    first: int  # session-date range covered, epoch seconds of midnight UTC
    last: int
    evaluable: tuple[int, int]  # the part the library really knows (the rest is fallback)

    @property
    def sessions(self) -> np.ndarray:
        """Session dates (epoch seconds of midnight UTC), ascending, one per session."""
        return self.session[self.first_of_session]

    def fallback(self, lo: int, hi: int) -> tuple[date, date] | None:
        """The part of [lo, hi] outside the library's range, as dates, or None."""
        a, b = self.evaluable
        if lo >= a and hi <= b:
            return None
        return ts_day(lo), ts_day(hi)

    def covers(self, lo: int, hi: int) -> bool:
        return self.first <= lo and hi <= self.last


_lock = threading.Lock()
_cache: dict[str, Calendar] = {}


def get_calendar(name: str, lo: int, hi: int) -> Calendar:
    """The calendar covering session dates lo .. hi (epoch seconds), from the process cache when it can.

    A request outside the cached range rebuilds it over the union, rounded out to decades, so a
    process builds each calendar a handful of times at most.
    """
    lo_day, hi_day = ts_day(lo), ts_day(hi)
    with _lock:
        cached = _cache.get(name)
        if cached is not None and cached.covers(day_ts(lo_day), day_ts(hi_day)):
            return cached
        y0 = max(YEAR_MIN, (lo_day.year - 1) // _BLOCK * _BLOCK)
        y1 = min(YEAR_MAX, (hi_day.year + 1) // _BLOCK * _BLOCK + _BLOCK - 1)
        if cached is not None:
            y0, y1 = min(y0, ts_day(cached.first).year), max(y1, ts_day(cached.last).year)
        built = _build(name, date(y0, 1, 1), date(y1, 12, 31))
        _cache[name] = built
        return built


def _build(name: str, start: date, end: date) -> Calendar:
    if name in OWN_CALENDARS:
        return _own(name, start, end)
    factory = _factory(name)
    if factory is None:
        check_calendar(name)
        raise InvalidInput(f"calendar={name!r}: not available in the installed exchange_calendars",
                           details={"field": "calendar", "value": name})
    lo, hi = start, end
    bmin, bmax = factory.bound_min(), factory.bound_max()
    if bmin is not None:
        lo = max(lo, bmin.date())
    if bmax is not None:
        hi = min(hi, bmax.date())
    tz = timezone_of(name)
    parts = []
    if lo > start:
        parts.append(_weekday_segments(start, min(end, date.fromordinal(lo.toordinal() - 1)), tz))
    if lo <= hi:
        try:
            parts.append(_exchange_segments(name, lo, hi))
        except CalendarUnbuildable as exc:
            # The name is valid, the library's code for these years is not: weekdays, and every
            # day of the range is marked fallback so that upload warnings say so.
            log.warning("%s; its days from %s to %s are taken as weekday sessions", exc, lo, hi)
            parts.append(_weekday_segments(lo, hi, tz))
            evaluable = (day_ts(end) + DAY, day_ts(start) - DAY)
            opens, closes, session, first = (np.concatenate(x) for x in zip(*parts, strict=True))
            if hi < end:
                rest = _weekday_segments(max(start, date.fromordinal(hi.toordinal() + 1)), end, tz)
                opens, closes, session, first = (np.concatenate(x) for x in
                                                 zip((opens, closes, session, first), rest, strict=True))
            return Calendar(name, tz, opens, closes, session, first, day_ts(start), day_ts(end), evaluable)
    if hi < end:
        parts.append(_weekday_segments(max(start, date.fromordinal(hi.toordinal() + 1)), end, tz))
    opens, closes, session, first = (np.concatenate(x) for x in zip(*parts, strict=True))
    return Calendar(name, tz, opens, closes, session, first, day_ts(start), day_ts(end), (day_ts(lo), day_ts(hi)))


def _exchange_segments(name: str, lo: date, hi: date) -> tuple[np.ndarray, ...]:
    lib = _library()
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.x still uses APIs pandas 3 deprecates; the result is unaffected.
            warnings.simplefilter("ignore")
            schedule = lib.get_calendar(name, start=lo.isoformat(), end=hi.isoformat()).schedule
    except Exception as exc:  # noqa: BLE001 - a calendar this library version cannot build
        raise CalendarUnbuildable(f"calendar {name} cannot be built by the installed exchange_calendars "
                                  f"({type(exc).__name__}: {str(exc)[:200]})") from None

    def secs(column: str) -> np.ndarray:
        values = schedule[column].to_numpy(dtype="datetime64[ns]")  # UTC, NaT where there is no break
        return values.astype("datetime64[s]").astype(np.int64)

    opens, closes = secs("open"), secs("close")
    labels = schedule.index.to_numpy(dtype="datetime64[D]").astype(np.int64) * DAY
    b0, b1 = secs("break_start"), secs("break_end")
    has_break = schedule["break_start"].notna().to_numpy()
    if not has_break.any():
        return opens, closes, labels, np.ones(opens.size, dtype=bool)
    # A session with a lunch break is two segments: open .. break_start, break_end .. close.
    n = opens.size + int(has_break.sum())
    o, c, s, f = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64), np.zeros(n, bool)
    at = np.arange(opens.size) + np.concatenate(([0], np.cumsum(has_break)[:-1]))
    o[at], s[at], f[at] = opens, labels, True
    c[at] = np.where(has_break, b0, closes)
    second = at[has_break] + 1
    o[second], c[second], s[second] = b1[has_break], closes[has_break], labels[has_break]
    return o, c, s, f


def _weekday_segments(start: date, end: date, tz: str) -> tuple[np.ndarray, ...]:
    """Monday-Friday, local midnight to midnight in `tz`."""
    days = np.arange(start.toordinal(), end.toordinal() + 1) - _EPOCH_ORDINAL  # days since 1970-01-01
    days = days[(days + 3) % 7 < 5]  # 1970-01-01 was a Thursday: (d + 3) % 7 is 0 on Mondays
    labels = days * DAY
    opens = _local_midnights(days, tz)
    closes = _local_midnights(days + 1, tz)
    return opens, closes, labels, np.ones(days.size, dtype=bool)


def _local_midnights(days: np.ndarray, tz: str) -> np.ndarray:
    """Epoch seconds of local midnight of each day (days since 1970-01-01) in tz."""
    if tz == "UTC" or days.size == 0:
        return days * DAY
    import pandas as pd

    local = pd.DatetimeIndex(days.astype("datetime64[D]")).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    utc = local.as_unit("s").asi8
    return np.where(utc == np.iinfo(np.int64).min, days * DAY, utc)


def _own(name: str, start: date, end: date) -> Calendar:
    days = np.arange(start.toordinal(), end.toordinal() + 1) - _EPOCH_ORDINAL
    if name == "weekdays":
        days = days[(days + 3) % 7 < 5]
    labels = days * DAY
    first_last = (day_ts(start), day_ts(end))
    return Calendar(name, "UTC", labels, labels + DAY, labels, np.ones(days.size, bool), *first_last, first_last)


def warm(names: list[str]) -> None:
    """Build these calendars for the current decade (at server start, in the background)."""
    now = int(datetime.now(UTC).timestamp())
    for name in names:
        try:
            get_calendar(name, now - 400 * DAY, now + 400 * DAY)
        except InvalidInput:
            continue


def clear_cache() -> None:
    with _lock:
        _cache.clear()
