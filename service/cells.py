"""Convert and validate the cells of one column (prices, volumes, dates), collecting each bad one with its place.

Used by the upload parser (service/uploads.py) for CSV files and JSON points alike.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from service.errors import InvalidInput
from service.tables import PRICE_COLUMNS

MAX_LISTED_ERRORS = 100
MAX_VALUE_CHARS = 100  # a bad value is echoed back at most this long
# ISO date, optionally followed by a time of day (ignored where a date is asked for: query parameters).
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
# A price's date or timestamp: YYYY-MM-DD, or ISO 8601 with a time of day and optionally a UTC offset
# (Z, +01:00, -0500). Fractions of a second are accepted and dropped (bars are whole minutes).
STAMP_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
STAMP_HINT = "not an ISO date (YYYY-MM-DD) or timestamp (YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
VOLUME_MAX = 2**63 - 1
# Every stored date lies in this range, so every component can handle it and the day after it:
# Python's date (up to 9999), SQLite's text dates, Postgres, numpy and pandas nanosecond
# timestamps (1677-09-22 .. 2262-04-11), with room for forecast target dates after the last row.
DATE_MIN = date(1700, 1, 1)
DATE_MAX = date(2199, 12, 31)
_NUMBER_WITH_SEPARATORS = re.compile(r"\s*[+-]?(?:\d{1,3}(?:[,.' \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+,\d+)\s*")
NUMBER_HINT = "not a number: use a dot for decimals and no thousands separators (e.g. 1234.5)"


_COLUMN_ORDER = {c: i for i, c in enumerate(("date", *PRICE_COLUMNS))}


class Errors:
    """Bad cells: counts them all, keeps the first MAX_LISTED_ERRORS by position (memory stays small)."""

    def __init__(self, key: str) -> None:
        self.key = key  # "line" for files, "index" for JSON points
        self.count = 0
        self._kept: list[tuple] = []  # a max-heap on (position, column order, arrival), negated

    def add(self, where: int, column: str | None, value: Any, reason: str) -> None:
        self.count += 1
        item = ((-where, -_COLUMN_ORDER.get(column, -1), -self.count), where, column, value, reason)  # type: ignore[arg-type]
        if len(self._kept) < MAX_LISTED_ERRORS:
            heapq.heappush(self._kept, item)
        elif item[0] > self._kept[0][0]:
            heapq.heapreplace(self._kept, item)

    def raise_if_any(self) -> None:
        if not self.count:
            return
        listed = [{self.key: where, "column": column, "value": _shorten(value), "reason": reason}
                  for _, where, column, value, reason in sorted(self._kept, reverse=True)]
        first = listed[0]
        raise InvalidInput(
            f"{self.count} invalid value(s); first at {self.key} {first[self.key]}, "
            f"column {first['column']!r}: {first['reason']}; nothing was stored",
            details={"rows": listed, "omitted": self.count - len(listed)},
        )


def _shorten(value: Any) -> Any:
    """A value safe to echo in an error: scalars as they are, long text cut, containers summarised."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + f"... ({len(text)} characters)"


def describe_errors(details: Any) -> list[str]:
    """One line per listed bad row of an InvalidInput's details, for terminals."""
    details = details if isinstance(details, dict) else {}
    out = []
    for row in details.get("rows", []):
        where = f"line {row['line']}" if "line" in row else f"index {row.get('index')}"
        out.append(f"{where}, column {row['column']}: {row['value']!r}: {row['reason']}")
    if details.get("omitted"):
        out.append(f"... and {details['omitted']} more")
    return out


def parse_date(text: str) -> date:
    """An ISO date (a time of day after it is ignored): query parameters such as start/end."""
    match = DATE_RE.fullmatch(text.strip())
    if not match:
        raise ValueError("not an ISO date (YYYY-MM-DD)")
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day)  # raises ValueError for 2024-02-30


def parse_stamp(text: str) -> tuple[int, int | None, bool]:
    """(wall-clock epoch seconds, UTC offset in seconds or None when naive, has a time of day) of one cell."""
    match = STAMP_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(STAMP_HINT)
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    hour, minute, second = int(match[4] or 0), int(match[5] or 0), int(match[6] or 0)
    day_number = date(year, month, day).toordinal() - _EPOCH_ORDINAL  # ValueError for 2024-02-30
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid time of day {match[4]}:{match[5]}")
    offset = None
    if match[8]:
        zone = match[8]
        if zone == "Z":
            offset = 0
        else:
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 18 or minutes > 59:
                raise ValueError(f"invalid UTC offset {zone}")
            offset = (1 if zone[0] == "+" else -1) * (hours * 3600 + minutes * 60)
    timed = match[4] is not None and (hour or minute or second or offset is not None)
    return day_number * 86400 + hour * 3600 + minute * 60 + second, offset, bool(timed)


@dataclass
class Stamps:
    """Converted date/timestamp cells: sortable keys, and how to read them.

    keys: UTC epoch seconds when `aware` (every cell had an offset), else wall-clock seconds (the
    time as written, counted as if it were UTC): a date is its midnight. `timed`: some cell has
    a time of day, so these are intraday bars. Bad cells are None.
    """

    keys: list[int | None]
    aware: bool = False
    timed: bool = False


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_KEY_MIN = (DATE_MIN.toordinal() - _EPOCH_ORDINAL) * 86400
_KEY_MAX = (DATE_MAX.toordinal() - _EPOCH_ORDINAL + 1) * 86400 - 1


def convert_stamps(raw: list, wheres: list[int], errors: Errors, bad: set[int]) -> Stamps:
    """Convert date or timestamp cells (each within DATE_MIN..DATE_MAX), naming each bad one.

    Dates (YYYY-MM-DD) and ISO 8601 timestamps with or without a UTC offset are read; a file
    mixing timestamps with an offset and without one is refused (the naive ones would have to be
    guessed). Clean columns are converted by numpy or pandas in C; anything else cell by cell.
    """
    out = _fast_stamps(raw)
    if out is None:
        out = _careful_stamps(raw, wheres, errors, bad)
    keys = out.keys
    valid = [k for k in keys if k is not None] if bad else keys
    if valid and (min(valid) < _KEY_MIN or max(valid) > _KEY_MAX):  # type: ignore[type-var]
        for i, key in enumerate(keys):
            if key is not None and not _KEY_MIN <= key <= _KEY_MAX:
                errors.add(wheres[i], "date", raw[i], f"outside the supported range {DATE_MIN} .. {DATE_MAX}")
                bad.add(i)
                keys[i] = None
    return out


_ISO_LINES = re.compile(r"(?:\d{4}-\d{2}-\d{2}\n)*\d{4}-\d{2}-\d{2}")
_NAIVE_LINES = re.compile(r"(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?\n)*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?")
_AWARE_LINES = re.compile(r"(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})\n)*"
                          r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})")


def _fast_stamps(raw: list) -> Stamps | None:
    """Vectorised conversion of a clean column (every cell one shape); None: the careful path."""
    try:
        joined = "\n".join(raw)  # TypeError unless every cell is text
    except TypeError:
        return None
    if not raw:
        return Stamps([])
    try:
        if _ISO_LINES.fullmatch(joined):
            days = np.array(raw, dtype="datetime64[D]").astype(np.int64)
            return Stamps((days * 86400).tolist())
        if _NAIVE_LINES.fullmatch(joined):
            secs = np.array(raw, dtype="datetime64[s]").astype(np.int64)
            if not (secs % 86400).any():
                return Stamps(secs.tolist())  # every time is midnight: dates, as pandas writes them
            return Stamps(secs.tolist(), timed=True)
        if _AWARE_LINES.fullmatch(joined):
            import pandas as pd

            utc = pd.to_datetime(pd.Series(raw, dtype=object), format="ISO8601", utc=True).dt.as_unit("s")
            return Stamps(utc.astype("int64").tolist(), aware=True, timed=True)
    except (ValueError, OverflowError):
        return None  # e.g. 2024-02-30, 25:00: the careful path names the cell
    return None


def _careful_stamps(raw: list, wheres: list[int], errors: Errors, bad: set[int]) -> Stamps:
    keys: list[int | None] = []
    offsets: list[int | None] = []
    timed = False
    for i, text in enumerate(raw):
        try:
            if not isinstance(text, str):
                raise ValueError(STAMP_HINT)
            key, offset, has_time = parse_stamp(text)
        except ValueError as exc:
            reason = str(exc)
            if reason != STAMP_HINT and "time" not in reason and "offset" not in reason:
                reason = f"invalid date: {exc}"
            errors.add(wheres[i], "date", text, reason)
            bad.add(i)
            keys.append(None)
            offsets.append(None)
            continue
        keys.append(key)
        offsets.append(offset)
        timed = timed or has_time
    given = [i for i, k in enumerate(keys) if k is not None]
    aware = [i for i in given if offsets[i] is not None]
    if aware and len(aware) != len(given):
        naive = next(i for i in given if offsets[i] is None)
        errors.add(wheres[naive], "date", raw[naive], "a timestamp without a UTC offset in a file whose timestamps "
                   f"have one (first at {errors.key} {wheres[aware[0]]}): give every one an offset, or none")
        bad.add(naive)
        return Stamps(keys, aware=True, timed=True)
    if aware:
        keys = [None if k is None else k - offsets[i] for i, k in enumerate(keys)]  # type: ignore[operator]
    return Stamps(keys, aware=bool(aware), timed=timed)


def _number(raw: Any, column: str) -> float | int | None:
    """Convert one cell; raise ValueError with the reason. Empty means null."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError("not a number")
    if isinstance(raw, str):
        text = raw.strip()
        if text == "":
            return None
        if column == "volume" and text.isdigit() and text.isascii():
            if len(text.lstrip("0")) > 19 or int(text) > VOLUME_MAX:  # 2^63 has 19 digits; int() of more is slow
                raise ValueError("must be a whole number below 2^63")
            return int(text)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(NUMBER_HINT if _NUMBER_WITH_SEPARATORS.fullmatch(text) else "not a number") from None
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise ValueError("not a number")
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    if column == "volume":
        if value < 0:
            raise ValueError("must be >= 0")
        if isinstance(raw, int):
            if raw > VOLUME_MAX:
                raise ValueError("must be a whole number below 2^63")
            return raw
        if value != int(value) or value > VOLUME_MAX:
            raise ValueError("must be a whole number below 2^63")
        return int(value)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def _fast_column(cells: Any, column: str) -> list | None:
    """Vectorised conversion of an all-text column; None when any cell needs the careful path."""
    if not isinstance(cells, tuple) or column == "volume":  # volume: exact integers need the careful path
        return None
    if any(map(str.isspace, cells)) or not all(cells):
        if not "".join(cells).strip():  # an all-empty column (e.g. no adj_close): nulls
            return [None] * len(cells)
        return None
    try:
        arr = np.array(cells, dtype=np.float64)
    except (ValueError, OverflowError):
        return None
    return arr.tolist() if (np.isfinite(arr).all() and (arr > 0).all()) else None


def convert_column(raw: Any, name: str, wheres: list[int], errors: Errors, bad: set[int]) -> list:
    """Convert one price or volume column, naming each bad cell (bad rows are added to `bad`)."""
    fast = _fast_column(raw, name)
    if fast is not None and not (name == "close" and fast and fast[0] is None):
        return fast
    out = []
    for i, cell in enumerate(raw):
        try:
            value = _number(cell, name)
            if value is None and name == "close":
                raise ValueError("required")
        except ValueError as exc:
            errors.add(wheres[i], name, cell, str(exc))
            bad.add(i)
            value = None
        out.append(value)
    return out
