"""The CSV/JSON parser: validation names the line (or index), column and value; nothing is guessed."""

from __future__ import annotations

from datetime import date

import pytest

from service.errors import InvalidInput
from service.uploads import normalise_ticker, parse_csv, parse_points


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
    assert details["rows"][0]["reason"] == "not an ISO date (YYYY-MM-DD)"


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
