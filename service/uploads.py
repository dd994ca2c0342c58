"""Parse and validate uploaded price files (CSV or JSON) into rows, naming every bad cell."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from service.errors import InvalidInput
from service.tables import PRICE_COLUMNS

MAX_LISTED_ERRORS = 100
TICKER_RE = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9.\-^=_]{0,31}$")
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
        self.count = 0

    def add(self, where: int, column: str, value: Any, reason: str) -> None:
        self.count += 1
        if len(self.rows) < MAX_LISTED_ERRORS:
            self.rows.append({self.key: where, "column": column, "value": value, "reason": reason})

    def raise_if_any(self) -> None:
        if self.count:
            first = self.rows[0]
            raise InvalidInput(
                f"{self.count} invalid value(s); first at {self.key} {first[self.key]}, "
                f"column {first['column']!r}: {first['reason']}; nothing was stored",
                details={"rows": self.rows, "omitted": self.count - len(self.rows)},
            )


def normalise_ticker(symbol: str) -> str:
    """Validate a ticker symbol and return it upper-cased."""
    if not isinstance(symbol, str) or not TICKER_RE.fullmatch(symbol):
        raise InvalidInput(
            f"ticker={symbol!r}: must be 1-32 characters from letters, digits and .-^=_, "
            "starting with a letter, digit or ^",
            details={"field": "ticker", "value": symbol},
        )
    return symbol.upper()


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
        return int(value)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


class _RowCollector:
    """Accumulates validated rows of one ticker, folding exact repeats of a date."""

    def __init__(self, present: tuple[str, ...]) -> None:
        self.present = present
        self.by_date: dict[date, tuple[int, tuple]] = {}
        self.received = 0
        self.warnings: list[str] = []

    def add(self, errors: _Errors, where: int, raw_date: Any, cells: dict[str, Any]) -> None:
        self.received += 1
        ok = True
        try:
            if not isinstance(raw_date, str):
                raise ValueError("not an ISO date (YYYY-MM-DD)")
            day = parse_date(raw_date)
        except ValueError as exc:
            errors.add(where, "date", raw_date, str(exc) if "ISO" in str(exc) else f"invalid date: {exc}")
            ok = False
        values = []
        for column in self.present:
            try:
                value = _number(cells.get(column), column)
                if value is None and column == "close":
                    raise ValueError("required")
            except ValueError as exc:
                errors.add(where, column, cells.get(column), str(exc))
                ok = False
                value = None
            values.append(value)
        if not ok:
            return
        row = tuple(values)
        seen = self.by_date.get(day)
        if seen is None:
            self.by_date[day] = (where, row)
        elif seen[1] == row:
            self.warnings.append(f"{day}: repeated with identical values at {errors.key} {where}; folded")
        else:
            errors.add(where, "date", raw_date, f"duplicate date with different values (first at {errors.key} {seen[0]})")

    def result(self) -> ParsedUpload:
        days = sorted(self.by_date)
        columns: dict[str, list] = {c: [] for c in self.present}
        for day in days:
            for column, value in zip(self.present, self.by_date[day][1], strict=True):
                columns[column].append(value)
        upload = ParsedUpload(days, columns, self.received, list(self.warnings))
        upload.warnings.extend(series_warnings(upload))
        return upload


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
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InvalidInput(f"line 1: unreadable CSV header: {exc}", details={"rows": [], "omitted": 0}) from None
    names = _header(header, with_ticker=with_ticker)
    present = tuple(c for c in PRICE_COLUMNS if c in names)
    index = {n: i for i, n in enumerate(names)}
    unknown = [h for h, n in zip(header, names, strict=True) if n not in index or n not in (*PRICE_COLUMNS, "date", "ticker")]
    warnings = [f"unknown column {h!r} ignored" for h in unknown]
    errors = _Errors("line")
    collectors: dict[str, _RowCollector] = {}
    rows = 0
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(reader.line_num, None, None, f"unreadable CSV: {exc}")
            break
        line_start = line + 1
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        rows += 1
        if rows > max_rows:
            raise InvalidInput(f"too many rows: more than max_upload_rows={max_rows}; split the upload",
                               details={"rows": [], "omitted": 0, "limit": max_rows})
        if len(fields) != len(names):
            errors.add(line_start, None, ",".join(fields)[:200], f"expected {len(names)} fields, got {len(fields)}")
            continue
        ticker = ""
        if with_ticker:
            raw = fields[index["ticker"]].strip()
            if not TICKER_RE.fullmatch(raw):
                errors.add(line_start, "ticker", raw, "not a valid ticker symbol")
                continue
            ticker = raw.upper()
        collector = collectors.get(ticker)
        if collector is None:
            collector = collectors[ticker] = _RowCollector(present)
        cells = {c: fields[index[c]] for c in present}
        collector.add(errors, line_start, fields[index["date"]], cells)
    errors.raise_if_any()
    if rows == 0:
        raise InvalidInput("the upload has a header but no data rows", details={"rows": [], "omitted": 0})
    result = {t: c.result() for t, c in collectors.items()}
    for upload in result.values():
        upload.warnings[:0] = warnings
    return result


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
    collector = _RowCollector(present)
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            errors.add(i, None, point if isinstance(point, str | int | float | None) else str(point)[:200],
                       "expected an object with date and close")
            continue
        collector.add(errors, i, point.get("date"), point)
    errors.raise_if_any()
    upload = collector.result()
    upload.warnings[:0] = [f"unknown field {k!r} ignored" for k in unknown]
    return upload


SPLIT_RATIOS = {2.0: "2:1", 3.0: "3:1", 1.5: "3:2", 4.0: "4:1", 5.0: "5:1", 10.0: "10:1",
                0.5: "1:2", 1 / 3: "1:3", 2 / 3: "2:3", 0.25: "1:4", 0.2: "1:5", 0.1: "1:10"}
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
        closes = upload.columns["close"]
        hits = []
        for i in range(1, len(closes)):
            ratio = closes[i - 1] / closes[i]
            for split, name in SPLIT_RATIOS.items():
                if abs(ratio / split - 1) < 0.02:
                    hits.append(f"{days[i]}: close moved {closes[i - 1]:g} -> {closes[i]:g}, "
                                f"close to a {name} split; the series looks unadjusted for a split "
                                "(upload adj_close, or adjusted prices)")
                    break
        out += _capped(hits, "split-like moves")
    return out


def _capped(messages: list[str], kind: str) -> list[str]:
    if len(messages) <= MAX_WARNINGS_PER_KIND:
        return messages
    return messages[:MAX_WARNINGS_PER_KIND] + [f"... and {len(messages) - MAX_WARNINGS_PER_KIND} more {kind}"]
