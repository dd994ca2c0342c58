"""Convert and validate the cells of one column (prices, volumes, dates), collecting each bad one with its place.

Used by the upload parser (service/uploads.py) for CSV files and JSON points alike.
"""

from __future__ import annotations

import heapq
import math
import re
from datetime import date
from typing import Any

import numpy as np

from service.errors import InvalidInput
from service.tables import PRICE_COLUMNS

MAX_LISTED_ERRORS = 100
MAX_VALUE_CHARS = 100  # a bad value is echoed back at most this long
# ISO date, optionally followed by a time of day (which is dropped: these are daily prices).
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
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
    match = DATE_RE.fullmatch(text.strip())
    if not match:
        raise ValueError("not an ISO date (YYYY-MM-DD)")
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day)  # raises ValueError for 2024-02-30


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


_ISO_LINES = re.compile(r"(?:\d{4}-\d{2}-\d{2}\n)*\d{4}-\d{2}-\d{2}")


def convert_dates(raw: list, wheres: list[int], errors: Errors, bad: set[int]) -> tuple[list[date | None], bool]:
    """Convert date cells (each in DATE_MIN..DATE_MAX), naming each bad one; and whether all were plain YYYY-MM-DD."""
    out: list[date | None] | None = None
    iso = False
    try:
        joined = "\n".join(raw)  # TypeError unless every cell is text
    except TypeError:
        joined = ""
    if raw and _ISO_LINES.fullmatch(joined):
        try:
            out = list(map(date.fromisoformat, raw))
            iso = True
        except ValueError:
            out = None  # e.g. 2024-02-30: the loop below names the row
    if out is None:
        out = []
        for i, text in enumerate(raw):
            try:
                if not isinstance(text, str):
                    raise ValueError("not an ISO date (YYYY-MM-DD)")
                if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():
                    out.append(date.fromisoformat(text))
                    continue
                out.append(parse_date(text))
            except ValueError as exc:
                reason = str(exc) if "ISO" in str(exc) else f"invalid date: {exc}"
                if isinstance(text, str) and not DATE_RE.fullmatch(text.strip()):
                    reason = "not an ISO date (YYYY-MM-DD)"
                errors.add(wheres[i], "date", text, reason)
                bad.add(i)
                out.append(None)
    valid = out if not bad else [d for d in out if d is not None]
    if valid and (min(valid) < DATE_MIN or max(valid) > DATE_MAX):  # type: ignore[type-var]
        for i, day in enumerate(out):
            if day is not None and not DATE_MIN <= day <= DATE_MAX:
                errors.add(wheres[i], "date", raw[i], f"outside the supported range {DATE_MIN} .. {DATE_MAX}")
                bad.add(i)
                out[i] = None
    return out, iso


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
