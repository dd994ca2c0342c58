"""`pricecast import` and `pricecast series list`: what POST /series/{ticker} does, from a file."""

from __future__ import annotations

import json

from tests.conftest import data_file


def test_import_reports_like_the_api_and_lists(pricecast):
    r = pricecast("import", "ibm", str(data_file("IBM.csv")), "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["ticker"], report["rows_inserted"], report["revision"]) == ("IBM", 500, 1)
    again = json.loads(pricecast("import", "IBM", str(data_file("IBM.csv")), "--json").stdout)
    assert again["rows_unchanged"] == 500 and again["revision"] == 1
    listed = json.loads(pricecast("series", "list", "--json").stdout)["series"]
    assert [(s["ticker"], s["rows"]) for s in listed] == [("IBM", 500)]


def test_a_bad_file_names_each_row_stores_nothing_and_exits_1(pricecast, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,close\n2024-01-02,1\n2024-01-03,abc\n2024-13-01,2\n")
    r = pricecast("import", "X", str(bad))
    assert r.exit_code == 1
    assert "line 3, column close: 'abc': not a number" in r.stderr and "line 4, column date" in r.stderr
    assert json.loads(pricecast("series", "list", "--json").stdout)["series"] == []
    r = pricecast("import", "a b", str(bad))
    assert r.exit_code == 1 and "letters, digits" in r.stderr
