"""Read CSV text into columns: a shape check, pandas' C reader for clean files, the csv module otherwise.

service/uploads.py validates what comes out. Both readers return the same Table; the fast one
returns None whenever it cannot vouch for every cell, and the careful one then names each bad
line. Everything here is linear in the size of the text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.errors import InvalidInput
from service.tables import PRICE_COLUMNS

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_NUMERIC_TEXT = b"0123456789.-+eE,;\t \n"  # what the dates and numbers of a clean file are made of
_EXACT_FLOAT_INT = 2**53  # from here on, a whole number read as a float may have lost digits


@dataclass(frozen=True)
class Shape:
    """What the scans found before anything was split."""

    delimiter: str
    lines: int  # physical lines, the header included
    first_line: str
    width: int  # fields in the header line
    raw: bytes  # the text as UTF-8 with \n line ends
    uniform: bool  # every line has exactly width fields (and so no blank line)


@dataclass
class Table:
    """Rows in column form: the physical line of each row, its date and ticker cells, its price cells."""

    lines: list[int]
    dates: list
    tickers: list[str] | None
    cells: dict[str, Any]  # validated values when `validated`, else the raw text cells
    validated: bool
    unknown: list[str] = field(default_factory=list)


HeaderFn = Callable[..., list[str]]


def _too_big(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, details={"rows": [], "omitted": 0, **details})


def check_shape(text: str, *, max_rows: int, max_columns: int, max_line_bytes: int) -> Shape:
    """Count lines, measure each line and the header with C-level scans; refuse what is over a limit."""
    norm = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    raw = norm.encode("utf-8")
    buf = np.frombuffer(raw, dtype=np.uint8)
    newline = buf == 10
    lines = int(np.count_nonzero(newline)) + (0 if raw.endswith(b"\n") else 1)
    if lines - 1 > max_rows:
        raise _too_big(f"too many lines: {lines - 1:,} after the header, more than max_upload_rows={max_rows} "
                       "(PRICECAST_MAX_UPLOAD_ROWS; blank lines count); split the upload", limit=max_rows)
    ends = np.flatnonzero(newline)
    del newline
    starts = np.concatenate(([0], ends + 1))[:lines]
    stops = np.concatenate((ends, [buf.size]))[:lines]
    lengths = stops - starts
    if lengths.size and lengths.max() > max_line_bytes:
        at = int(np.argmax(lengths > max_line_bytes))
        raise _too_big(f"line {at + 1}: {int(lengths[at]):,} bytes, longer than max_upload_line_bytes={max_line_bytes} "
                       "(PRICECAST_MAX_UPLOAD_LINE_BYTES)", line=at + 1, limit=max_line_bytes)
    end = norm.find("\n")
    first_line = norm if end < 0 else norm[:end]
    delimiter = detect_delimiter(first_line)
    width = first_line.count(delimiter) + 1
    if width > max_columns:
        raise _too_big(f"header (line 1): {width:,} columns, more than max_upload_columns={max_columns} "
                       "(PRICECAST_MAX_UPLOAD_COLUMNS)", line=1, limit=max_columns)
    # Every line has width fields when the delimiters add up and the first data line has its share:
    # pandas refuses any later line with more fields than the header, so none can have fewer.
    after = norm.find("\n", end + 1) if end >= 0 else -1
    second = "" if end < 0 else norm[end + 1:after if after >= 0 else len(norm)]
    uniform = ('"' not in norm and second.count(delimiter) == width - 1
               and int(np.count_nonzero(buf == ord(delimiter))) == (width - 1) * lines)
    return Shape(delimiter, lines, first_line, width, raw, uniform)


def detect_delimiter(header: str) -> str:
    """Comma unless the header has none and has semicolons or tabs."""
    if "," in header:
        return ","
    for candidate in (";", "\t"):
        if candidate in header:
            return candidate
    return ","


def _columns(names: list[str], header: list[str], *, with_ticker: bool) -> tuple[dict[str, int], list[str]]:
    """Price column positions and the (original) names of the ignored columns."""
    index = {n: i for i, n in enumerate(names)}
    known = {*PRICE_COLUMNS, "date", *(("ticker",) if with_ticker else ())}
    unknown = [h for h, n in zip(header, names, strict=True) if n not in known]
    return {c: index[c] for c in PRICE_COLUMNS if c in index}, unknown


def read_fast(shape: Shape, *, with_ticker: bool, header: HeaderFn, ticker_ok: Callable[[str], Any]) -> Table | None:
    """Read a clean file with pandas' C reader; None when any line or cell needs the careful path."""
    if not shape.uniform or b'"' in shape.raw or shape.lines < 2 or not shape.first_line:
        return None
    head = shape.first_line.split(shape.delimiter)
    names = header(head, with_ticker=with_ticker, delimiter=shape.delimiter)
    col_at, unknown = _columns(names, head, with_ticker=with_ticker)
    date_at = names.index("date")
    ticker_at = names.index("ticker") if with_ticker else None
    text_at = [date_at] + ([ticker_at] if ticker_at is not None else [])
    dtype: dict[int, Any] = dict.fromkeys(text_at, object)
    if not shape.raw[shape.raw.find(b"\n") + 1:].translate(None, _NUMERIC_TEXT):
        # No letters anywhere (no true, nan or inf): prices can be read as float64 directly,
        # which skips pandas' type inference. Volume is still inferred, to keep whole numbers exact.
        dtype |= {at: "float64" for name, at in col_at.items() if name != "volume"}
    import pandas as pd  # imported here: CLI commands that never read a CSV start faster

    try:
        # Every column is read (no usecols), so a line with more fields than the header is an error.
        frame = pd.read_csv(
            io.BytesIO(shape.raw), sep=shape.delimiter, header=None, skiprows=1, names=list(range(shape.width)),
            dtype=dtype, index_col=False, keep_default_na=False, na_values=[""], quoting=csv.QUOTE_NONE,
            low_memory=False, engine="c",
        )
    except (ValueError, pd.errors.ParserError, OverflowError):
        return None
    n = shape.lines - 1
    if len(frame) != n:
        return None
    dates = frame[date_at]
    if dates.isna().any():
        return None
    tickers = None
    if ticker_at is not None:
        column = frame[ticker_at]
        if column.isna().any():
            return None
        raw_tickers = column.tolist()
        upper = {}
        for symbol in set(raw_tickers):
            if not ticker_ok(symbol):
                return None
            upper[symbol] = symbol.upper()
        tickers = [upper[t] for t in raw_tickers]
    cells = {}
    for name, at in col_at.items():
        values = _validated(frame[at].to_numpy(), name)
        if values is None:
            return None
        cells[name] = values
    return Table(list(range(2, n + 2)), dates.tolist(), tickers, cells, True, unknown)


def _validated(arr: np.ndarray, column: str) -> list | None:
    """The column as Python values (None for empty cells) if every cell is valid, else None."""
    if arr.dtype.kind == "i":
        if (arr < 0).any() if column == "volume" else (arr <= 0).any():
            return None
        return arr.tolist() if column == "volume" else arr.astype(np.float64).tolist()
    if arr.dtype.kind != "f":
        return None
    empty = np.isnan(arr)
    if column == "close" and empty.any():
        return None
    if empty.all():
        return [None] * arr.size
    given = arr[~empty]
    if not np.isfinite(given).all():
        return None
    if column == "volume":
        if (given < 0).any() or (given != np.floor(given)).any() or (given >= _EXACT_FLOAT_INT).any():
            return None
        values = [None if e else int(v) for v, e in zip(arr.tolist(), empty.tolist(), strict=True)]
        return values
    if (given <= 0).any():
        return None
    values = arr.tolist()
    if empty.any():
        values = [None if e else v for v, e in zip(values, empty.tolist(), strict=True)]
    return values


def read_careful(text: str, shape: Shape, *, with_ticker: bool, header: HeaderFn, errors: Any,
                 ticker_ok: Callable[[str], Any]) -> Table:
    """Read any CSV with the csv module, record by record: blank lines skipped, each bad line named."""
    records = _records(text, shape.delimiter)
    try:
        _, head = next(records)
    except csv.Error as exc:
        raise InvalidInput(f"line 1: unreadable CSV header: {exc}", details={"rows": [], "omitted": 0}) from None
    names = header(head, with_ticker=with_ticker, delimiter=shape.delimiter)
    col_at, unknown = _columns(names, head, with_ticker=with_ticker)
    date_at = names.index("date")
    ticker_at = names.index("ticker") if with_ticker else None
    width = len(names)
    lines: list[int] = []
    rows: list[list[str]] = []
    tickers: list[str] | None = [] if ticker_at is not None else None
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
        if len(fields) != width:
            errors.add(line_start, None, shape.delimiter.join(fields), f"expected {width} fields, got {len(fields)}")
            continue
        if tickers is not None:
            symbol = fields[ticker_at].strip()  # type: ignore[index]
            if not ticker_ok(symbol):
                errors.add(line_start, "ticker", symbol, "not a valid ticker symbol")
                continue
            tickers.append(symbol.upper())
        lines.append(line_start)
        rows.append(fields)
    by_column = list(zip(*rows, strict=True)) if rows else [()] * width
    return Table(lines, list(by_column[date_at]), tickers, {c: by_column[at] for c, at in col_at.items()}, False,
                 unknown)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records, each numbered by the physical line it starts on.

    Lines are fed one at a time (io.StringIO would hold a copy of the text at 4 bytes a character).
    """
    reader = csv.reader((m.group() for m in _LINE.finditer(text)), delimiter=delimiter)
    line = 0
    for fields in reader:
        yield line + 1, fields
        line = reader.line_num
