"""Parse and validate uploaded price files (CSV or JSON) into rows, naming every bad cell."""

from __future__ import annotations

import codecs
import csv
import io
import math
import operator
import re
from dataclasses import dataclass, field
from datetime import date
from collections.abc import Iterator
from typing import Any

import numpy as np

from service.errors import InvalidInput
from service.tables import PRICE_COLUMNS
from service.tickers import TICKER_RE, normalise_ticker  # noqa: F401  (the ticker rule lives in service/tickers.py)

MAX_LISTED_ERRORS = 100
# ISO date, optionally followed by a time of day (which is dropped: these are daily prices).
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
HEADER_ALIASES = {"adjclose": "adj_close", "adj_close": "adj_close", "adjusted_close": "adj_close"}
VOLUME_MAX = 2**63 - 1


@dataclass
class ParsedUpload:
    """Validated rows of one ticker, in ascending date order."""

    dates: list[date]
    columns: dict[str, list[float | int | None]]  # only the price columns the upload has
    rows_received: int
    warnings: list[str] = field(default_factory=list)


class _Errors:
    def __init__(self, key: str) -> None:
        self.key = key  # "line" for files, "index" for JSON points
        self.rows: list[dict[str, Any]] = []

    def add(self, where: int, column: str | None, value: Any, reason: str) -> None:
        self.rows.append({self.key: where, "column": column, "value": value, "reason": reason})

    def raise_if_any(self) -> None:
        if not self.rows:
            return
        order = {c: i for i, c in enumerate(("date", *PRICE_COLUMNS))}
        self.rows.sort(key=lambda r: (r[self.key], order.get(r["column"], -1)))
        first = self.rows[0]
        listed = self.rows[:MAX_LISTED_ERRORS]
        raise InvalidInput(
            f"{len(self.rows)} invalid value(s); first at {self.key} {first[self.key]}, "
            f"column {first['column']!r}: {first['reason']}; nothing was stored",
            details={"rows": listed, "omitted": len(self.rows) - len(listed)},
        )


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
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise ValueError("not a number")
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    if column == "volume":
        if value < 0:
            raise ValueError("must be >= 0")
        if value != int(value) or value > VOLUME_MAX:
            raise ValueError("must be a whole number below 2^63")
        return int(raw) if isinstance(raw, int) else int(value)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def _fast_column(cells: list, column: str) -> list | None:
    """Vectorised conversion of an all-text column; None when any cell needs the careful path."""
    if not isinstance(cells, tuple):  # CSV columns arrive as tuples of text; JSON needs the careful path
        return None
    try:
        arr = np.array(cells, dtype=np.int64 if column == "volume" else np.float64)
    except (ValueError, OverflowError):
        if not "".join(cells).strip():  # an all-empty column (e.g. no adj_close): nulls
            return [None] * len(cells)
        return None
    if column == "volume":
        return arr.tolist() if (arr >= 0).all() else None
    return arr.tolist() if (np.isfinite(arr).all() and (arr > 0).all()) else None


_ISO_LINES = re.compile(r"(?:\d{4}-\d{2}-\d{2}\n)*\d{4}-\d{2}-\d{2}")


def _dates(raw: list, wheres: list[int], errors: _Errors, bad: set[int]) -> list[date | None]:
    if isinstance(raw, tuple) and _ISO_LINES.fullmatch("\n".join(raw)):
        try:
            return list(map(date.fromisoformat, raw))
        except ValueError:
            pass  # e.g. 2024-02-30: the loop below names the row
    out: list[date | None] = []
    for i, text in enumerate(raw):
        try:
            if isinstance(text, str) and len(text) == 10 and text[4] == "-" and text[7] == "-":
                out.append(date.fromisoformat(text))
                continue
            if not isinstance(text, str):
                raise ValueError("not an ISO date (YYYY-MM-DD)")
            out.append(parse_date(text))
        except ValueError as exc:
            reason = str(exc) if "ISO" in str(exc) else f"invalid date: {exc}"
            if isinstance(text, str) and not DATE_RE.fullmatch(text.strip()):
                reason = "not an ISO date (YYYY-MM-DD)"
            errors.add(wheres[i], "date", text, reason)
            bad.add(i)
            out.append(None)
    return out


def _column(raw: list, column: str, wheres: list[int], errors: _Errors, bad: set[int]) -> list:
    fast = _fast_column(raw, column)
    if fast is not None and not (column == "close" and fast and fast[0] is None):
        return fast
    out = []
    for i, cell in enumerate(raw):
        try:
            value = _number(cell, column)
            if value is None and column == "close":
                raise ValueError("required")
        except ValueError as exc:
            errors.add(wheres[i], column, cell, str(exc))
            bad.add(i)
            value = None
        out.append(value)
    return out


def _build(wheres: list[int], raw_dates: list, raw_cols: dict[str, list], errors: _Errors) -> ParsedUpload:
    """Validate column by column (vectorised when clean), fold exact repeats, sort by date."""
    bad: set[int] = set()
    days = _dates(raw_dates, wheres, errors, bad)
    cols = {c: _column(cells, c, wheres, errors, bad) for c, cells in raw_cols.items()}
    n = len(days)
    if not bad and len(set(days)) == n:  # the common case: every row valid, no repeated date
        if all(map(operator.lt, days, days[1:])):
            return ParsedUpload(days, cols, n)  # type: ignore[arg-type]
        order = sorted(range(n), key=days.__getitem__)
        return ParsedUpload([days[i] for i in order], {c: [v[i] for i in order] for c, v in cols.items()}, n)  # type: ignore[misc]
    warnings: list[str] = []
    first_at: dict[date, int] = {}
    keep: list[int] = []
    for i, day in enumerate(days):
        if i in bad:
            continue
        j = first_at.get(day)
        if j is None:
            first_at[day] = i
            keep.append(i)
        elif all(col[i] == col[j] for col in cols.values()):
            warnings.append(f"{day}: repeated with identical values at {errors.key} {wheres[i]}; folded")
        else:
            errors.add(wheres[i], "date", raw_dates[i],
                       f"duplicate date with different values (first at {errors.key} {wheres[j]})")
    keep.sort(key=days.__getitem__)
    return ParsedUpload([days[i] for i in keep], {c: [v[i] for i in keep] for c, v in cols.items()},  # type: ignore[misc]
                        n, warnings)


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"line {line}: not valid UTF-8 text; nothing was stored",
            details={"rows": [{"line": line, "column": None, "value": None, "reason": "invalid UTF-8"}], "omitted": 0},
        ) from None


def _header(fields: list[str], *, with_ticker: bool) -> list[str]:
    names = [HEADER_ALIASES.get(re.sub(r"[\s\-]+", "_", f.strip().lower()), re.sub(r"[\s\-]+", "_", f.strip().lower())) for f in fields]
    required = ["date", "close"] + (["ticker"] if with_ticker else [])
    missing = [r for r in required if r not in names]
    problems = [{"line": 1, "column": r, "value": None, "reason": "required column missing from the header"} for r in missing]
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    problems += [{"line": 1, "column": d, "value": d, "reason": "column appears twice in the header"} for d in dupes]
    if problems:
        raise InvalidInput(
            f"header (line 1): {problems[0]['reason']}: {problems[0]['column']!r}; "
            f"expected date,close and optionally open,high,low,adj_close,volume",
            details={"rows": problems, "omitted": 0},
        )
    return names


def parse_csv(data: bytes, *, max_rows: int, with_ticker: bool = False) -> dict[str, ParsedUpload]:
    """Parse a CSV file. Returns uploads keyed by ticker ("" when there is no ticker column)."""
    text = _decode(data)
    if not text.strip():
        raise InvalidInput("the upload is empty: expected a CSV header line and at least one row",
                           details={"rows": [], "omitted": 0})
    simple = '"' not in text
    lines = text.splitlines() if simple else []
    records = enumerate((line.split(",") for line in lines), start=1) if simple else _csv_records(text)
    try:
        _, header = next(records)
    except csv.Error as exc:
        raise InvalidInput(f"line 1: unreadable CSV header: {exc}", details={"rows": [], "omitted": 0}) from None
    names = _header(header, with_ticker=with_ticker)
    present = tuple(c for c in PRICE_COLUMNS if c in names)
    index = {n: i for i, n in enumerate(names)}
    unknown = [h for h, n in zip(header, names, strict=True) if n not in (*PRICE_COLUMNS, "date", "ticker")]
    warnings = [f"unknown column {h!r} ignored" for h in unknown]
    errors = _Errors("line")
    date_at, ticker_at = index["date"], index.get("ticker")
    col_at = [(c, index[c]) for c in present]
    width = len(names)
    body = [line.split(",") for line in lines[1:]] if simple and ticker_at is None else []
    if body and len(body) <= max_rows and all(map(width.__eq__, map(len, body))):
        # Fast path (one ticker, no quotes, no blank or ragged lines): row i is on line i + 2.
        buckets: dict[str, tuple] = {"": (range(2, len(body) + 2), body)}
        rows = len(body)
    else:
        buckets, rows = _bucket_records(records, width, ticker_at, max_rows, errors)
    if rows == 0 and not errors.rows:
        raise InvalidInput("the upload has a header but no data rows", details={"rows": [], "omitted": 0})
    result = {}
    for ticker, (wheres, bucket_rows) in buckets.items():
        by_column = list(zip(*bucket_rows, strict=True))
        result[ticker] = _build(wheres, by_column[date_at], {c: by_column[at] for c, at in col_at}, errors)
    errors.raise_if_any()
    for upload in result.values():
        upload.warnings[:0] = warnings
        upload.warnings.extend(series_warnings(upload))
    return result


def _bucket_records(records: Iterator[tuple[int, list[str]]], width: int, ticker_at: int | None, max_rows: int,
                    errors: _Errors) -> tuple[dict[str, tuple[list[int], list[list[str]]]], int]:
    """Group rows by ticker ("" without a ticker column), skipping blank lines and naming ragged ones."""
    buckets: dict[str, tuple[list[int], list[list[str]]]] = {}
    rows = 0
    line_start = 1
    while True:
        try:
            line_start, fields = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(line_start + 1, None, None, f"unreadable CSV: {exc}")
            break
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        rows += 1
        if rows > max_rows:
            raise InvalidInput(f"too many rows: more than max_upload_rows={max_rows}; split the upload",
                               details={"rows": [], "omitted": 0, "limit": max_rows})
        if len(fields) != width:
            errors.add(line_start, None, ",".join(fields)[:200], f"expected {width} fields, got {len(fields)}")
            continue
        ticker = ""
        if ticker_at is not None:
            raw = fields[ticker_at].strip()
            if not TICKER_RE.fullmatch(raw):
                errors.add(line_start, "ticker", raw, "not a valid ticker symbol")
                continue
            ticker = raw.upper()
        bucket = buckets.get(ticker)
        if bucket is None:
            bucket = buckets[ticker] = ([], [])
        bucket[0].append(line_start)
        bucket[1].append(fields)
    return buckets, rows


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Rows of a CSV with quoted fields, each numbered by the physical line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 0
    for fields in reader:
        yield line + 1, fields
        line = reader.line_num


def parse_points(payload: Any, *, max_rows: int) -> ParsedUpload:
    """Parse a JSON body {"points": [{"date": ..., "close": ...}, ...]}; errors name the index."""
    if not isinstance(payload, dict) or not isinstance(payload.get("points"), list):
        raise InvalidInput('expected a JSON object {"points": [{"date": "YYYY-MM-DD", "close": 1.0}, ...]}',
                           details={"field": "points"})
    points = payload["points"]
    if not points:
        raise InvalidInput("points is empty: expected at least one point", details={"field": "points"})
    if len(points) > max_rows:
        raise InvalidInput(f"too many points: {len(points)} > max_upload_rows={max_rows}; split the upload",
                           details={"rows": [], "omitted": 0, "limit": max_rows})
    keys = set()
    for point in points:
        if isinstance(point, dict):
            keys.update(point)
    present = tuple(c for c in PRICE_COLUMNS if c in keys or c == "close")
    unknown = sorted(str(k) for k in keys - {"date", *PRICE_COLUMNS})
    errors = _Errors("index")
    wheres, raw_dates, raw_cols = [], [], {c: [] for c in present}
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            errors.add(i, None, point if isinstance(point, str | int | float | None) else str(point)[:200],
                       "expected an object with date and close")
            continue
        wheres.append(i)
        raw_dates.append(point.get("date"))
        for c in present:
            raw_cols[c].append(point.get(c))
    upload = _build(wheres, raw_dates, raw_cols, errors)
    errors.raise_if_any()
    upload.warnings[:0] = [f"unknown field {k!r} ignored" for k in unknown]
    upload.warnings.extend(series_warnings(upload))
    return upload


SPLIT_RATIOS = {2.0: "2:1", 3.0: "3:1", 1.5: "3:2", 4.0: "4:1", 5.0: "5:1", 10.0: "10:1",
                0.5: "1:2", 1 / 3: "1:3", 2 / 3: "2:3", 0.25: "1:4", 0.2: "1:5", 0.1: "1:10"}
_SPLITS = np.array(list(SPLIT_RATIOS))
MAX_WARNINGS_PER_KIND = 20


def series_warnings(upload: ParsedUpload) -> list[str]:
    """Warn about gaps over a week, high below low, and unadjusted-looking split jumps."""
    out: list[str] = []
    days = upload.dates
    gaps = [(a, b) for a, b in zip(days, days[1:], strict=False) if (b - a).days > 7]
    out += _capped([f"gap of {(b - a).days} days between {a} and {b}" for a, b in gaps], "gaps")
    if "high" in upload.columns and "low" in upload.columns:
        bad = [d for d, h, lo in zip(days, upload.columns["high"], upload.columns["low"], strict=True)
               if h is not None and lo is not None and h < lo]
        out += _capped([f"{d}: high below low" for d in bad], "high-below-low rows")
    adj = upload.columns.get("adj_close")
    if adj is None or all(v is None for v in adj):
        closes = np.asarray(upload.columns["close"], dtype=np.float64)
        ratios = closes[:-1] / closes[1:]
        hits = []
        for i in np.flatnonzero(np.abs(ratios[:, None] / _SPLITS[None, :] - 1).min(axis=1) < 0.02) + 1:
            name = SPLIT_RATIOS[_SPLITS[np.abs(ratios[i - 1] / _SPLITS - 1).argmin()]]
            hits.append(f"{days[i]}: close moved {closes[i - 1]:g} -> {closes[i]:g}, "
                        f"close to a {name} split; the series looks unadjusted for a split "
                        "(upload adj_close, or adjusted prices)")
        out += _capped(hits, "split-like moves")
    return out


def _capped(messages: list[str], kind: str) -> list[str]:
    if len(messages) <= MAX_WARNINGS_PER_KIND:
        return messages
    return messages[:MAX_WARNINGS_PER_KIND] + [f"... and {len(messages) - MAX_WARNINGS_PER_KIND} more {kind}"]
