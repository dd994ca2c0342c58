"""Parse and validate uploaded price files (CSV or JSON) into rows, naming every bad cell.

Every step costs time and memory linear in the input. The shape of the text (lines, line
length, header columns) is checked with C-level scans before anything is split; a clean file is
read by pandas' C reader (service/csvread.py); anything that reader cannot vouch for is read
again by the careful path (the csv module, cell by cell), which names each bad line.
"""

from __future__ import annotations

import codecs
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from service import checks, csvread
from service.cells import (  # noqa: F401 - DATE_MIN, DATE_MAX, parse_date and describe_errors are used from here too
    DATE_MAX,
    DATE_MIN,
    MAX_LISTED_ERRORS,
    MAX_VALUE_CHARS,
    Errors,
    Stamps,
    convert_column,
    convert_stamps,
    describe_errors,
    parse_date,
)
from service.errors import InvalidInput
from service.tables import PRICE_COLUMNS
from service.tickers import TICKER_RE, normalise_ticker  # noqa: F401  (the ticker rule lives in service/tickers.py)

HEADER_ALIASES = {"adjclose": "adj_close", "adj_close": "adj_close", "adjusted_close": "adj_close"}


@dataclass(frozen=True)
class CsvLimits:
    """Shape limits for one CSV upload (Settings.max_upload_columns, .max_upload_line_bytes, .max_upload_tickers)."""

    max_columns: int = 100
    max_line_bytes: int = 10_000
    max_tickers: int = 1000  # per long-format (bulk) file

    @classmethod
    def of(cls, settings: Any) -> CsvLimits:
        return cls(max_columns=settings.max_upload_columns, max_line_bytes=settings.max_upload_line_bytes,
                   max_tickers=settings.max_upload_tickers)


@dataclass
class ParsedUpload:
    """Validated rows of one ticker, in ascending time order.

    `keys` are the rows' times as parsed (service/cells.py Stamps): UTC epoch seconds when
    `aware`, else wall-clock seconds (a date is its midnight). Which instant a wall-clock time is
    depends on the series' calendar, so `ts` (UTC) and `frequency` are filled in when the upload
    meets its series (service/bars.py resolve, inside the unit of work).
    """

    keys: list[int]
    columns: dict[str, list[float | int | None]]  # only the price columns the upload has
    rows_received: int
    warnings: list[str] = field(default_factory=list)
    aware: bool = False
    timed: bool = False
    wheres: list[int] | None = field(default=None, repr=False, compare=False)  # line (or index) of each row
    where_key: str = "line"
    ts: Any = field(default=None, repr=False, compare=False)  # np.ndarray of UTC epoch seconds, once resolved
    frequency: str | None = None

    @classmethod
    def of_dates(cls, dates: list[date], columns: dict[str, list], rows_received: int | None = None) -> ParsedUpload:
        """A daily upload from dates (tests and the demo)."""
        keys = [(d.toordinal() - _EPOCH_ORDINAL) * 86400 for d in dates]
        return cls(keys, columns, len(dates) if rows_received is None else rows_received)

    @property
    def dates(self) -> list[date]:
        """The date part of each row's time as written (daily uploads: their dates)."""
        return [date.fromordinal(k // 86400 + _EPOCH_ORDINAL) for k in self.keys]

    def __len__(self) -> int:
        return len(self.keys)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _key_label(key: int, aware: bool) -> str:
    day = date.fromordinal(key // 86400 + _EPOCH_ORDINAL).isoformat()
    rest = key % 86400
    if not rest and not aware:
        return day
    return f"{day}T{rest // 3600:02d}:{rest // 60 % 60:02d}" + ("Z" if aware else "")


def _build(wheres: list[int], stamps: Stamps, cols: dict[str, list], bad: set[int], raw_dates: list,
           errors: Errors) -> ParsedUpload:
    """Fold exact repeats (naming them), refuse repeats with different values, sort by time."""
    keys = stamps.keys
    n = len(keys)
    extra = {"aware": stamps.aware, "timed": stamps.timed, "where_key": errors.key}
    if not bad and len(set(keys)) == n:  # the common case: every row valid, no repeated time
        if all(map(operator.lt, keys, keys[1:])):
            return ParsedUpload(keys, cols, n, wheres=wheres, **extra)  # type: ignore[arg-type]
        order = sorted(range(n), key=keys.__getitem__)
        return ParsedUpload([keys[i] for i in order], {c: [v[i] for i in order] for c, v in cols.items()}, n,  # type: ignore[misc]
                            wheres=[wheres[i] for i in order], **extra)
    warnings: list[str] = []
    first_at: dict[int, int] = {}
    keep: list[int] = []
    for i, key in enumerate(keys):
        if i in bad or key is None:
            continue
        j = first_at.get(key)
        if j is None:
            first_at[key] = i
            keep.append(i)
        elif all(col[i] == col[j] for col in cols.values()):
            warnings.append(f"{_key_label(key, stamps.aware)}: repeated with identical values at {errors.key} "
                            f"{wheres[i]}; folded")
        else:
            errors.add(wheres[i], "date", raw_dates[i],
                       f"duplicate date with different values (first at {errors.key} {wheres[j]})")
    keep.sort(key=keys.__getitem__)
    return ParsedUpload([keys[i] for i in keep], {c: [v[i] for i in keep] for c, v in cols.items()},  # type: ignore[misc]
                        n, checks.capped(warnings, "folded repeats"), wheres=[wheres[i] for i in keep], **extra)


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


def _normalise_name(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return HEADER_ALIASES.get(key, key)


def _header(fields: list[str], *, with_ticker: bool, delimiter: str) -> list[str]:
    names = [_normalise_name(f) for f in fields]
    required = ["date", "close"] + (["ticker"] if with_ticker else [])
    missing = [r for r in required if r not in names]
    problems = [{"line": 1, "column": r, "value": None, "reason": "required column missing from the header"} for r in missing]
    counts = Counter(n for n in names if n)
    dupes = sorted(n for n, k in counts.items() if k > 1)
    problems += [{"line": 1, "column": d, "value": d, "reason": "column appears twice in the header"} for d in dupes]
    if problems:
        hint = ""
        if missing and len(fields) == 1:
            hint = "; the header has a single column: separate columns with commas (semicolons and tabs are read too)"
        raise InvalidInput(
            f"header (line 1): {problems[0]['reason']}: {problems[0]['column']!r}; "
            f"expected date,close and optionally open,high,low,adj_close,volume{hint}",
            details={"rows": problems[:MAX_LISTED_ERRORS], "omitted": max(0, len(problems) - MAX_LISTED_ERRORS)},
        )
    return names


def parse_csv(data: bytes, *, max_rows: int, with_ticker: bool = False, limits: CsvLimits | None = None,
              reader: Literal["auto", "careful"] = "auto") -> dict[str, ParsedUpload]:
    """Parse a CSV file. Returns uploads keyed by ticker ("" when there is no ticker column).

    reader="careful" skips pandas' C reader: slower, with the same result (tests check that).
    """
    limits = limits or CsvLimits()
    text = _decode(data)
    if not text or text.isspace():
        # The commonest cause is a client's, not the file's: `curl --data-binary @FILE` with a FILE
        # that is not there sends an empty body, and `curl -s` hides its warning.
        raise InvalidInput("the upload is empty (0 bytes of data): expected a CSV header line and at least one row; "
                           "with `curl --data-binary @FILE`, check that FILE exists (curl sends an empty body "
                           "when it cannot read it, and -s hides its warning)",
                           details={"rows": [], "omitted": 0})
    shape = csvread.check_shape(text, max_rows=max_rows, max_columns=limits.max_columns,
                                max_line_bytes=limits.max_line_bytes)
    table = None
    if reader == "auto":
        table = csvread.read_fast(shape, with_ticker=with_ticker, header=_header, ticker_ok=TICKER_RE.fullmatch)
    errors = Errors("line")
    if table is None:
        table = csvread.read_careful(text, shape, with_ticker=with_ticker, header=_header, errors=errors,
                                     ticker_ok=TICKER_RE.fullmatch)
    if not table.lines and not errors.count:
        raise InvalidInput("the upload has a header but no data rows", details={"rows": [], "omitted": 0})
    bad: set[int] = set()
    stamps = convert_stamps(table.dates, table.lines, errors, bad)
    if table.validated:
        cols = table.cells
    else:
        cols = {c: convert_column(cells, c, table.lines, errors, bad) for c, cells in table.cells.items()}
    groups = list(_groups(table.tickers))
    if len(groups) > limits.max_tickers:
        raise InvalidInput(f"too many tickers: {len(groups):,} in one file, more than max_upload_tickers="
                           f"{limits.max_tickers} (PRICECAST_MAX_UPLOAD_TICKERS); split the upload",
                           details={"rows": [], "omitted": 0, "limit": limits.max_tickers})
    result = {}
    for ticker, rows in groups:
        if rows is None:
            result[ticker] = _build(table.lines, stamps, cols, bad, table.dates, errors)
            continue
        part = Stamps([stamps.keys[i] for i in rows], stamps.aware, stamps.timed)
        result[ticker] = _build([table.lines[i] for i in rows], part, {c: [v[i] for i in rows] for c, v in cols.items()},
                                {k for k, i in enumerate(rows) if i in bad}, [table.dates[i] for i in rows], errors)
    errors.raise_if_any()
    warnings = [f"unknown column {h!r} ignored" for h in table.unknown]
    warnings = checks.capped(warnings, "unknown columns")
    if shape.delimiter != ",":
        warnings.insert(0, f"read as a {csvread.DELIMITER_NAMES[shape.delimiter]}-separated file "
                           "(the header has no commas)")
    for upload in result.values():
        upload.warnings[:0] = warnings
        upload.warnings.extend(upload_warnings(upload))
    return result


def _groups(tickers: list[str] | None):
    """(ticker, row indices) per ticker in first-seen order; ("", None) without a ticker column."""
    if tickers is None:
        yield "", None
        return
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(tickers):
        groups.setdefault(t, []).append(i)
    yield from groups.items()


def parse_points(payload: Any, *, max_rows: int) -> ParsedUpload:
    """Parse a JSON body {"points": [{"date": ..., "close": ...}, ...]}; errors name the index."""
    if not isinstance(payload, dict) or not isinstance(payload.get("points"), list):
        raise InvalidInput('expected a JSON object {"points": [{"date": "YYYY-MM-DD", "close": 1.0}, ...]}',
                           details={"field": "points"})
    points = payload["points"]
    if not points:
        raise InvalidInput("points is empty: expected at least one point", details={"field": "points"})
    if len(points) > max_rows:
        raise InvalidInput(f"too many points: {len(points)} > max_upload_rows={max_rows} (PRICECAST_MAX_UPLOAD_ROWS); "
                           "split the upload", details={"rows": [], "omitted": 0, "limit": max_rows})
    keys: set = set()
    for point in points:
        if isinstance(point, dict):
            keys.update(point)
    present = tuple(c for c in PRICE_COLUMNS if c in keys or c == "close")
    unknown = sorted(str(k)[:MAX_VALUE_CHARS] for k in keys - {"date", *PRICE_COLUMNS})
    errors = Errors("index")
    wheres, raw_dates, raw_cols = [], [], {c: [] for c in present}
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            errors.add(i, None, point, "expected an object with date and close")
            continue
        wheres.append(i)
        raw_dates.append(point.get("date"))
        for c in present:
            raw_cols[c].append(point.get(c))
    bad: set[int] = set()
    stamps = convert_stamps(raw_dates, wheres, errors, bad)
    cols = {c: convert_column(cells, c, wheres, errors, bad) for c, cells in raw_cols.items()}
    upload = _build(wheres, stamps, cols, bad, raw_dates, errors)
    errors.raise_if_any()
    upload.warnings[:0] = checks.capped([f"unknown field {k!r} ignored" for k in unknown], "unknown fields")
    upload.warnings.extend(upload_warnings(upload))
    return upload


class _Labels:
    """Row labels made on demand: warnings name a few rows of files with up to 200,000."""

    def __init__(self, upload: ParsedUpload) -> None:
        self.keys, self.aware = upload.keys, upload.aware

    def __getitem__(self, i: int) -> str:
        return _key_label(self.keys[i], self.aware)

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self):
        return (self[i] for i in range(len(self.keys)))


def _labels(upload: ParsedUpload) -> _Labels:
    return _Labels(upload)


def upload_warnings(upload: ParsedUpload) -> list[str]:
    """Warnings that depend on the upload alone: high below low, unadjusted-looking split jumps.

    Gaps and non-trading days depend on the stored series too: service.store checks them
    after the merge (checks.gap_warnings, checks.calendar_warnings).
    """
    out: list[str] = []
    if "high" in upload.columns and "low" in upload.columns:
        out += checks.high_low_warnings(_labels(upload), upload.columns["high"], upload.columns["low"])
    adj = upload.columns.get("adj_close")
    if adj is None or adj.count(None) == len(adj):
        out += checks.split_warnings(_labels(upload), upload.columns["close"])  # type: ignore[arg-type]
    return out
