"""The two CSV readers agree: pandas' C reader (clean files) and the csv module (everything) give the same
uploads, the same warnings and the same errors for any input."""

from __future__ import annotations

import codecs
from datetime import date

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.errors import InvalidInput
from service.uploads import parse_csv

NUMBERS = st.one_of(
    st.floats(min_value=1e-6, max_value=1e12).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10, max_value=10**20).map(str),
    st.from_regex(r"[0-9]{1,30}\.[0-9]{0,30}(e[+-]?[0-9]{1,3})?", fullmatch=True),
    st.text(alphabet="0123456789.-+eE ", min_size=1, max_size=8),
    st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e400", "0", "-0", "1_000", " 7 ", "+5", "5.", ".5", "1e5",
                     "true", "True", "FALSE", "", " ", "１", "١٢", "0x10", "1,5", "9007199254740993",
                     "9223372036854775808", "00012", "1.e3", "NA", "null", "#VALUE!", "1 000"]),
)
DATES = st.one_of(
    st.dates().map(str),
    st.dates(min_value=date(1990, 1, 1), max_value=date(1990, 3, 1)).map(str),
    st.sampled_from(["2020-01-02", "2020-02-30", "02/01/2020", "2020-1-2", "", "2020-01-02T00:00:00Z",
                     "2020-01-02 10:00", "9999-12-31", "1699-12-31", " 2020-01-03"]),
)
TICKERS = st.sampled_from(["AAA", "bbb", "C.D", "bad$", " AAA", ""])
HEADERS = st.lists(st.sampled_from(["date", "close", "open", "high", "low", "adj_close", "Adj Close", "volume",
                                    "note", "Date", "CLOSE", ""]), min_size=1, max_size=7)


GOOD_NUMBERS = st.one_of(
    st.floats(min_value=1e-6, max_value=1e12).map(repr),
    st.integers(min_value=1, max_value=10**15).map(str),
    st.from_regex(r"[1-9][0-9]{0,25}\.[0-9]{0,25}(e[+-]?[0-9]{1,2})?", fullmatch=True),
)


@st.composite
def csv_files(draw) -> tuple[bytes, bool]:
    with_ticker = draw(st.booleans())
    clean = draw(st.booleans())  # half the files are well formed, so the fast reader is exercised
    header = draw(HEADERS)
    if clean or draw(st.booleans()):
        header = ["date", "close"] + list(dict.fromkeys(h for h in header if h.lower() not in ("date", "close", "")))
    if with_ticker:
        header = ["ticker", *header]
    n = draw(st.integers(min_value=0, max_value=12))
    rows = []
    for _ in range(n):
        row = []
        for name in header:
            if name == "ticker":
                row.append(draw(TICKERS if not clean else st.sampled_from(["AAA", "bbb", "C.D"])))
            elif name.lower() == "date":
                row.append(draw(DATES if not clean else st.dates(date(1990, 1, 1), date(2100, 1, 1)).map(str)))
            elif clean:
                odd = draw(st.integers(0, 20)) == 0
                empty = name.lower() != "close" and draw(st.integers(0, 5)) == 0
                row.append("" if empty else draw(NUMBERS if odd else GOOD_NUMBERS))
            else:
                row.append(draw(NUMBERS))
        shape = "same" if clean else draw(st.sampled_from(["same"] * 8 + ["short", "long", "blank"]))
        if shape == "short":
            row = row[:-1]
        elif shape == "long":
            row = [*row, "1"]
        elif shape == "blank":
            row = [] if draw(st.booleans()) else ["  "]
        rows.append(row)
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote = not clean and draw(st.sampled_from([False, False, False, True]))
    cell = (lambda c: '"' + c.replace('"', '""') + '"') if quote else (lambda c: c)
    text = newline.join(sep.join(map(cell, r)) for r in [header, *rows]) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    try:
        return text.encode(encoding), with_ticker
    except UnicodeEncodeError:
        return codecs.BOM_UTF8 + text.encode("utf-8", "replace"), with_ticker


def outcome(data: bytes, *, with_ticker: bool, reader: str):
    try:
        uploads = parse_csv(data, max_rows=50, with_ticker=with_ticker, reader=reader)  # type: ignore[arg-type]
    except InvalidInput as exc:
        return "error", exc.message, exc.details
    return "ok", {t: (u.keys, u.columns, u.warnings, u.rows_received, u.aware, u.timed) for t, u in uploads.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_files())
@example(case=(b"date,close,volume\n2024-01-02,1,9007199254740993\n2024-01-03,1,\n", False))
@example(case=(b"date,close\n2024-01-02,true\n", False))
@example(case=(b"date,close\n2024-01-02,1,5\n2024-01-03\n", False))
@example(case=(b"date,close\n2024-01-02,0.1000000000000000055511151231257827\n", False))
@example(case=(b"date,close\n2024-01-02,1\n2024-01-03,1,5\n2024-01-04\n", False))
@example(case=(b"date,close\n2024-01-02,1,5\n2024-01-03\n2024-01-04,1\n", False))
@example(case=(b"date,close,volume\n2024-01-02,1,2\n2024-01-03,1,2,3\n2024-01-04,1\n", False))
@example(case=(b"date,close\n2024-01-02,1e5e\n2024-01-03,--5\n", False))
def test_fast_and_careful_readers_agree(case):
    data, with_ticker = case
    assert outcome(data, with_ticker=with_ticker, reader="auto") == outcome(data, with_ticker=with_ticker,
                                                                           reader="careful")
