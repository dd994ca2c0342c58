"""The CSV/JSON parser: validation names the line (or index), column and value; nothing is guessed."""

from __future__ import annotations

import time
import tracemalloc
from datetime import date

import numpy as np
import pytest

from service.errors import InvalidInput
from service.uploads import CsvLimits, normalise_ticker, parse_csv, parse_points


def csv1(text: str, **kw):
    return parse_csv(text.encode(), max_rows=kw.pop("max_rows", 1000), **kw)[""]


def rejected(fn, *args, **kw) -> dict:
    with pytest.raises(InvalidInput) as info:
        fn(*args, **kw)
    return info.value.details


def test_minimal_csv_sorted_with_optional_columns_in_any_order():
    up = csv1("close,date,volume\n11,2024-01-03,\n10,2024-01-02,5\n")
    assert up.dates == [date(2024, 1, 2), date(2024, 1, 3)]
    assert up.columns == {"close": [10.0, 11.0], "volume": [5, None]}
    assert up.rows_received == 2


def test_bad_cells_are_reported_by_physical_line_column_and_value():
    details = rejected(csv1, "date,close,volume\n2024-01-02,1,1\n2024-01-03,-5,1\n\n2024-02-30,2,1\n2024-01-05,3,-1\n")
    assert details["rows"] == [
        {"line": 3, "column": "close", "value": "-5", "reason": "must be > 0"},
        {"line": 5, "column": "date", "value": "2024-02-30", "reason": "invalid date: day is out of range for month"},
        {"line": 6, "column": "volume", "value": "-1", "reason": "must be >= 0"},
    ]
    assert details["omitted"] == 0


def test_quoted_multiline_field_keeps_physical_line_numbers():
    details = rejected(csv1, 'date,close,note\n2024-01-02,1,"two\nlines"\n2024-01-03,bad,x\n')
    assert details["rows"][0]["line"] == 4


@pytest.mark.parametrize("spelling", ["nan", "NaN", "NAN", "inf", "-inf", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_rejected(spelling):
    details = rejected(csv1, f"date,close\n2024-01-02,{spelling}\n")
    assert details["rows"][0]["column"] == "close"


def test_at_most_100_errors_listed_and_rest_counted():
    body = "date,close\n" + "".join(f"2024-01-02,x{i}\n" for i in range(150))
    details = rejected(csv1, body)
    assert len(details["rows"]) == 100 and details["omitted"] == 50


def test_bom_crlf_and_header_aliases():
    up = parse_csv(b"\xef\xbb\xbfDate,Adj Close,Close\r\n2024-01-02,9,10\r\n", max_rows=10)[""]
    assert up.columns == {"close": [10.0], "adj_close": [9.0]}


def test_utf16_with_bom():
    up = parse_csv("date,close\n2024-01-02,10\n".encode("utf-16"), max_rows=10)[""]
    assert up.columns["close"] == [10.0]


def test_invalid_utf8_names_the_line():
    details = rejected(parse_csv, b"date,close\n2024-01-02,1\n2024-01-03,\xff\n", max_rows=10)
    assert details["rows"][0]["line"] == 3


@pytest.mark.parametrize("body", ["", "   \n", "date,close\n", "date,close\n\n\n"])
def test_empty_file_or_header_only_is_rejected(body):
    with pytest.raises(InvalidInput):
        csv1(body)


def test_missing_required_column_names_it():
    details = rejected(csv1, "date,open\n2024-01-02,1\n")
    assert details["rows"][0] == {"line": 1, "column": "close", "value": None,
                                  "reason": "required column missing from the header"}


def test_wrong_field_count_is_an_error():
    details = rejected(csv1, "date,close\n2024-01-02,1,2\n")
    assert details["rows"][0]["line"] == 2 and "expected 2 fields" in details["rows"][0]["reason"]


def test_duplicate_dates_exact_repeat_folds_with_warning_different_values_fail():
    up = csv1("date,close\n2024-01-02,1\n2024-01-02,1\n")
    assert up.dates == [date(2024, 1, 2)] and any("folded" in w for w in up.warnings)
    details = rejected(csv1, "date,close\n2024-01-02,1\n2024-01-02,2\n")
    assert details["rows"][0]["line"] == 3 and "first at line 2" in details["rows"][0]["reason"]


def test_day_first_or_month_first_dates_are_never_guessed():
    details = rejected(csv1, "date,close\n02/01/2024,1\n")
    assert details["rows"][0]["reason"] .startswith("not an ISO date (YYYY-MM-DD) or timestamp")


def test_timestamps_at_the_date_are_accepted():
    assert csv1("date,close\n2024-01-02T00:00:00Z,1\n").dates == [date(2024, 1, 2)]


def test_unknown_columns_warn():
    assert "unknown column 'note' ignored" in csv1("date,close,note\n2024-01-02,1,x\n").warnings


def test_warnings_high_below_low_and_split():
    up = csv1("date,high,low,close\n2024-01-02,5,6,100\n2024-01-03,5,4,100\n2024-01-20,5,4,50.2\n")
    text = " | ".join(up.warnings)
    assert "2024-01-02: high below low" in text
    assert "2024-01-20" in text and "2:1 split" in text
    assert "gap" not in text  # gaps are judged against the stored series (tests/service/test_series.py)


def test_no_split_warning_when_adj_close_is_given():
    up = csv1("date,close,adj_close\n2024-01-02,100,50\n2024-01-03,50,50\n")
    assert not any("split" in w for w in up.warnings)


def test_too_many_rows():
    with pytest.raises(InvalidInput, match="max_upload_rows=2"):
        csv1("date,close\n2024-01-02,1\n2024-01-03,1\n2024-01-04,1\n", max_rows=2)


def test_long_format_groups_by_ticker_and_validates_symbols():
    ups = parse_csv(b"ticker,date,close\naaa,2024-01-02,1\nBBB,2024-01-02,2\naaa,2024-01-03,3\n", max_rows=10, with_ticker=True)
    assert set(ups) == {"AAA", "BBB"} and ups["AAA"].columns["close"] == [1.0, 3.0]
    details = rejected(parse_csv, b"ticker,date,close\nbad$,2024-01-02,1\n", max_rows=10, with_ticker=True)
    assert details["rows"][0] == {"line": 2, "column": "ticker", "value": "bad$", "reason": "not a valid ticker symbol"}


def test_json_points_errors_name_the_index():
    details = rejected(parse_points, {"points": [{"date": "2024-01-02", "close": 1}, {"date": "2024-01-03", "close": True},
                                                 "x", {"date": 20240104, "close": 1}]}, max_rows=10)
    assert [(r["index"], r["column"]) for r in details["rows"]] == [(1, "close"), (2, None), (3, "date")]


def test_json_points_accepts_numbers_and_numeric_strings():
    up = parse_points({"points": [{"date": "2024-01-03", "close": "2.5", "volume": 10}, {"date": "2024-01-02", "close": 2}]},
                      max_rows=10)
    assert up.columns == {"close": [2.0, 2.5], "volume": [None, 10]}


@pytest.mark.parametrize("payload", [[], {}, {"points": {}}, {"points": []}, None])
def test_json_shape_errors(payload):
    with pytest.raises(InvalidInput):
        parse_points(payload, max_rows=10)


@pytest.mark.parametrize("good", ["SPX", "brk.b", "^GSPC", "ES=F", "A_B-C", "X" * 32, "1INCH"])
def test_ticker_symbols_ok(good):
    assert normalise_ticker(good) == good.upper()


@pytest.mark.parametrize("bad", ["", "A\n", ".A", "-A", "A B", "A/B", "../etc", "X" * 33, "AÉ", "A\x00"])
def test_ticker_symbols_rejected(bad):
    with pytest.raises(InvalidInput):
        normalise_ticker(bad)


# --- delimiters and number formats (issue 14.7) ---

@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_and_tab_files_are_read_and_say_so(sep, name):
    up = csv1(f"date{sep}close{sep}volume\n2024-01-02{sep}10.5{sep}7\n2024-01-03{sep}11{sep}\n")
    assert up.columns == {"close": [10.5, 11.0], "volume": [7, None]}
    assert up.warnings[0] == f"read as a {name}-separated file (the header has no commas)"


@pytest.mark.parametrize("cell", ['"1,234.5"', '"1.234,5"', "101,5", '"1 234"'])
def test_thousands_separators_and_decimal_commas_get_a_hint(cell):
    sep = ";" if cell == "101,5" else ","
    details = rejected(csv1, f"date{sep}close\n2024-01-02{sep}{cell}\n")
    assert details["rows"][0]["reason"] == "not a number: use a dot for decimals and no thousands separators (e.g. 1234.5)"


def test_a_single_column_header_hints_at_the_delimiter():
    with pytest.raises(InvalidInput, match="separate columns with commas"):
        csv1("date|close\n2024-01-02|1\n")


def test_a_ticker_column_in_a_single_ticker_upload_is_ignored_with_a_warning():
    up = csv1("ticker,date,close\nAAA,2024-01-02,1\n")
    assert up.columns == {"close": [1.0]} and "unknown column 'ticker' ignored" in up.warnings


# --- bounded dates (issue 13 row 4) ---

@pytest.mark.parametrize("day", ["9999-12-31", "2200-01-01", "1699-12-31", "0001-01-01"])
def test_dates_outside_the_supported_range_are_refused_naming_line_and_value(day):
    details = rejected(csv1, f"date,close\n2024-01-02,1\n{day},2\n")
    assert details["rows"] == [{"line": 3, "column": "date", "value": day,
                                "reason": "outside the supported range 1700-01-01 .. 2199-12-31"}]


def test_range_edges_are_accepted_and_json_points_are_bounded_too():
    assert csv1("date,close\n1700-01-01,1\n2199-12-31,2\n").dates == [date(1700, 1, 1), date(2199, 12, 31)]
    details = rejected(parse_points, {"points": [{"date": "2024-01-02", "close": 1}, {"date": "9999-12-31", "close": 2}]},
                       max_rows=10)
    assert details["rows"][0]["index"] == 1 and "outside the supported range" in details["rows"][0]["reason"]


def test_volume_is_exact_and_bounded():
    assert csv1("date,close,volume\n2024-01-02,1,9007199254740993\n2024-01-03,1,\n").columns["volume"] == [
        9007199254740993, None]
    details = rejected(csv1, "date,close,volume\n2024-01-02,1,9223372036854775808\n")
    assert details["rows"][0]["reason"] == "must be a whole number below 2^63"
    details = rejected(csv1, "date,close,volume\n2024-01-02,1," + "9" * 5000 + "\n")
    assert details["rows"][0]["reason"] == "must be a whole number below 2^63"


def test_echoed_values_are_cut_short():
    details = rejected(parse_points, {"points": [{"date": "2024-01-02", "close": "x" * 100_000}]}, max_rows=10)
    value = details["rows"][0]["value"]
    assert value.startswith("xxx") and value.endswith("(100000 characters)") and len(value) < 200
    details = rejected(parse_points, {"points": [{"date": "2024-01-02", "close": [1] * 10_000}]}, max_rows=10)
    assert len(details["rows"][0]["value"]) < 200


# --- every input's cost bounded and linear (issue 13 rows 2 and 3) ---

def bounded(fn, data: bytes, *, seconds: float = 10.0, factor: float = 4.0):
    """Run fn(data) and return what it raised; assert its time, then (traced, a second run) its Python memory.

    The bounds are generous (a loaded 2-core machine); before the limits, these inputs took
    minutes and gigabytes.
    """
    def run():
        try:
            fn(data)
        except InvalidInput as exc:
            return exc
        return None

    start = time.perf_counter()
    outcome = run()
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"{elapsed:.1f} s"
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < factor * len(data) + 20_000_000, f"peak {peak:,} bytes for {len(data):,} bytes of input"
    return outcome


def default_parse(data: bytes):
    return parse_csv(data, max_rows=200_000, limits=CsvLimits())


WIDE = CsvLimits(max_columns=100, max_line_bytes=10**9)


@pytest.mark.parametrize("columns", [80_000, 10_000_000])
def test_a_header_with_huge_numbers_of_columns(columns):
    data = b"date,close," + b"x," * columns + b"\n2024-01-02,1" + b"," * (columns + 1) + b"\n"
    exc = bounded(default_parse, data)
    assert "longer than max_upload_line_bytes=10000 (PRICECAST_MAX_UPLOAD_LINE_BYTES)" in exc.message
    assert exc.message.startswith("line 1:")
    exc = bounded(lambda d: parse_csv(d, max_rows=10, limits=WIDE), data)
    assert f"header (line 1): {columns + 3:,} columns, more than max_upload_columns=100" in exc.message


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b" \n"])
def test_a_body_of_blank_lines_counts_them(blank):
    data = b"date,close\n" + blank * (40_000_000 // len(blank)) + b"2024-01-02,1\n"
    exc = bounded(default_parse, data)
    assert "too many lines" in exc.message and "max_upload_rows=200000 (PRICECAST_MAX_UPLOAD_ROWS; blank lines count)" \
        in exc.message


def test_blank_lines_under_the_limit_are_skipped_and_line_numbers_kept():
    details = rejected(csv1, "date,close\n\n\n2024-01-02,1\n  \n2024-01-03,x\n")
    assert details["rows"][0]["line"] == 6


def test_a_huge_single_line_and_a_huge_cell():
    exc = bounded(default_parse, b"date,close\n2024-01-02," + b"9" * 30_000_000 + b"\n")
    assert exc.message.startswith("line 2: 30,000,011 bytes, longer than max_upload_line_bytes")
    # A quoted cell spread over many short lines: the csv reader's field limit stops it.
    data = b'date,close,note\n2024-01-02,1,"' + b"x" * 99 + b"\n" * 0 + (b"y" * 99 + b"\n") * 100_000 + b'"\n'
    exc = bounded(default_parse, data)
    assert "unreadable CSV" in exc.details["rows"][0]["reason"] and exc.details["rows"][0]["line"] == 2


@pytest.mark.parametrize("fields", [9_000, 1_000_000])
def test_lines_of_many_empty_fields(fields):
    line = b"2024-01-02,1" + b"," * fields + b"\n"
    data = b"date,close\n" + line * max(1, 10_000_000 // len(line))
    exc = bounded(lambda d: parse_csv(d, max_rows=200_000, limits=CsvLimits(max_line_bytes=10**7)), data)
    assert f"expected 2 fields, got {fields + 2}" in exc.details["rows"][0]["reason"]


def test_many_short_bad_rows_are_linear_and_only_the_first_are_kept():
    data = b"date,close\n" + b"2024-01-02,x\n" * 50_000
    exc = bounded(default_parse, data, seconds=20.0, factor=40.0)
    assert exc.details["omitted"] == 50_000 - 100 and exc.details["rows"][0]["line"] == 2
    assert [r["line"] for r in exc.details["rows"]] == list(range(2, 102))


def test_a_clean_file_of_150000_rows_is_read():
    days = np.arange(np.datetime64("1700-01-01"), np.datetime64("1700-01-01") + 150_000).astype(str)
    data = ("date,close\n" + "".join(f"{d},{100 + i % 7}.25\n" for i, d in enumerate(days))).encode()
    assert bounded(default_parse, data, seconds=30.0, factor=40.0) is None


def test_settings_and_parser_defaults_agree():
    from service.settings import Settings

    assert CsvLimits.of(Settings()) == CsvLimits()


def test_too_many_tickers_in_a_bulk_file():
    body = "ticker,date,close\n" + "".join(f"T{i},2024-01-02,1\n" for i in range(30))
    with pytest.raises(InvalidInput, match=r"too many tickers: 30 in one file, more than max_upload_tickers=20 "
                                           r"\(PRICECAST_MAX_UPLOAD_TICKERS\)"):
        parse_csv(body.encode(), max_rows=100, with_ticker=True, limits=CsvLimits(max_tickers=20))
    assert len(parse_csv(body.encode(), max_rows=100, with_ticker=True)) == 30


def test_unknown_json_fields_warn_and_are_capped():
    points = [{"date": "2024-01-02", "close": 1, **{f"f{i:03d}": 1 for i in range(30)}}]
    up = parse_points({"points": points}, max_rows=10)
    assert up.warnings[0] == "unknown field 'f000' ignored" and up.warnings[20] == "... and 10 more unknown fields"
