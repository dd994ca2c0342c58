"""The series API through create_app(settings), on SQLite and Postgres."""

from __future__ import annotations

import pytest

from service.cells import STAMP_HINT
from service.settings import Settings
from tests.conftest import data_file

CSV = {"content-type": "text/csv"}


def upload(client, ticker: str, body: str | bytes, **params):
    return client.post(f"/series/{ticker}", content=body, headers=CSV, params=params)


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "request_id"} and body["error"]["code"] == code
    assert resp.headers["x-request-id"] == body["request_id"]
    return body["error"]


def test_upload_real_csv_then_reupload_is_all_unchanged(client):
    data = data_file("IBM.csv").read_bytes()
    first = upload(client, "ibm", data)
    assert first.status_code == 200, first.text
    assert first.json() | {"warnings": []} == {
        "ticker": "IBM", "rows_received": 500, "rows_inserted": 500, "rows_updated": 0, "rows_unchanged": 0,
        "rows_deleted": 0, "first_date": "2011-03-07", "last_date": "2013-03-01", "first": "2011-03-07",
        "last": "2013-03-01", "revision": 1, "calendar": "XNYS", "timezone": "America/New_York", "frequency": "1d",
        "frequency_source": "inferred", "notes": [], "warnings": []}
    assert first.json()["warnings"] == [], first.json()["warnings"]  # every NYSE session, none missing
    again = upload(client, "IBM", data).json()
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"], again["revision"]) == (0, 0, 500, 1)


def test_multipart_and_json_uploads(client):
    r = client.post("/series/FB", files={"file": ("FB.csv", data_file("FB.csv").read_bytes(), "text/csv")})
    assert r.status_code == 200 and r.json()["rows_inserted"] == 196
    r = client.post("/series/J", json={"points": [{"date": "2024-01-02", "close": 1.5, "volume": 3}]})
    assert r.status_code == 200 and r.json()["rows_inserted"] == 1
    assert client.get("/series/J").json()["points"] == [
        {"date": "2024-01-02", "open": None, "high": None, "low": None, "close": 1.5, "adj_close": None, "volume": 3}]


def test_bad_rows_rejected_whole_naming_each_line_and_nothing_stored(client):
    upload(client, "X", "date,close\n2024-01-01,5\n")
    body = "date,close,volume\n2024-01-02,1,1\n2024-01-03,abc,1\n2024-01-04,2,-3\n"
    err = assert_error(upload(client, "X", body), 422, "invalid_input")
    assert err["details"]["rows"] == [
        {"line": 3, "column": "close", "value": "abc", "reason": "not a number"},
        {"line": 4, "column": "volume", "value": "-3", "reason": "must be >= 0"}]
    assert err["details"]["omitted"] == 0
    assert [p["date"] for p in client.get("/series/X").json()["points"]] == ["2024-01-01"]
    assert_error(upload(client, "NEW", body), 422, "invalid_input")
    assert_error(client.get("/series/NEW"), 404, "not_found")


def test_json_errors_name_the_index(client):
    r = client.post("/series/X", json={"points": [{"date": "2024-01-02", "close": 1}, {"date": "nope", "close": 1}]})
    err = assert_error(r, 422, "invalid_input")
    assert err["details"]["rows"][0] == {"index": 1, "column": "date", "value": "nope", "reason": STAMP_HINT}


def test_invalid_json_and_bad_ticker(client):
    r = client.post("/series/X", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(r, 422, "invalid_input")
    err = assert_error(upload(client, "a b", "date,close\n2024-01-02,1\n"), 422, "invalid_input")
    assert err["details"]["fields"][0]["field"] == "ticker" and err["details"]["fields"][0]["value"] == "a b"
    assert err["message"].startswith("ticker='a b': ")


def test_split_warning_at_upload(client):
    r = upload(client, "S", "date,close\n2024-01-02,100\n2024-01-03,101\n2024-01-04,33.8\n")
    assert any("2024-01-04" in w and "3:1 split" in w for w in r.json()["warnings"])


def test_body_over_limit_is_413(tmp_path, settings):
    from fastapi.testclient import TestClient

    from service.api import create_app

    small = settings.model_copy(update={"max_upload_bytes": 2048})
    with TestClient(create_app(small)) as c:
        err = assert_error(upload(c, "X", "date,close\n" + "2024-01-02,1\n" * 500), 413, "payload_too_large")
        assert err["details"] == {"limit": 2048}

        def chunks():
            for _ in range(500):
                yield b"2024-01-02,1\n"

        r = c.post("/series/X", content=chunks(), headers=CSV)  # chunked: no Content-Length
        assert_error(r, 413, "payload_too_large")
        assert_error(c.get("/series/X"), 404, "not_found")


def test_replace_mode(client):
    upload(client, "R", "date,close\n2024-01-02,1\n2024-01-03,2\n")
    r = upload(client, "R", "date,close\n2024-01-03,2\n", mode="replace").json()
    assert (r["rows_deleted"], r["rows_unchanged"]) == (1, 1)
    assert_error(upload(client, "R", "date,close\n2024-01-03,2\n", mode="nope"), 422, "invalid_input")


def test_bulk_import_is_all_or_nothing(client):
    good = "ticker,date,close\nAAA,2024-01-02,1\nBBB,2024-01-02,2\n"
    r = client.post("/series", content=good, headers=CSV)
    assert [x["ticker"] for x in r.json()["results"]] == ["AAA", "BBB"]
    bad = "ticker,date,close\nCCC,2024-01-02,1\nDDD,2024-01-02,zero\n"
    err = assert_error(client.post("/series", content=bad, headers=CSV), 422, "invalid_input")
    assert err["details"]["rows"][0]["line"] == 3
    assert [s["ticker"] for s in client.get("/series").json()["series"]] == ["AAA", "BBB"]


def test_list_get_limits_csv_and_delete(client):
    upload(client, "SPX", data_file("SPX.csv").read_bytes())
    assert client.get("/series").json() == {"series": [
        {"ticker": "SPX", "rows": 5031, "first_date": "1999-01-04", "last_date": "2018-12-31", "first": "1999-01-04",
         "last": "2018-12-31", "revision": 1, "calendar": "XNYS", "timezone": "America/New_York", "frequency": "1d"}],
        "total": 1, "next": None}
    pts = client.get("/series/spx", params={"limit": 3}).json()["points"]
    assert [p["date"] for p in pts] == ["2018-12-27", "2018-12-28", "2018-12-31"]
    ranged = client.get("/series/SPX", params={"start": "2018-12-01", "end": "2018-12-07"}).json()["points"]
    assert ranged[0]["date"] == "2018-12-03" and ranged[-1]["date"] == "2018-12-07"
    text = client.get("/series/SPX", params={"limit": 1}, headers={"accept": "text/csv"}).text
    assert text.startswith("date,open,high,low,close,adj_close,volume\n2018-12-31,")
    assert_error(client.get("/series/SPX", params={"limit": 10**6}), 422, "invalid_input")
    assert client.delete("/series/SPX").status_code == 204
    assert_error(client.delete("/series/SPX"), 404, "not_found")


def test_request_id_is_echoed_and_errors_hide_internals(client):
    r = client.get("/series/NOPE", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123" and r.json()["request_id"] == "abc-123"
    assert_error(client.get("/no/such/route"), 404, "not_found")
    assert_error(client.put("/series/X"), 405, "method_not_allowed")


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok", "schema_revision": None, "head_revision": None}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["schema_revision"] == ready["head_revision"]


def test_server_refuses_a_database_behind_head(settings):
    from service import migrate
    from service.api import SchemaBehind, check_schema

    if settings.is_embedded:
        pytest.skip("the embedded default migrates itself")
    migrate.downgrade(settings, "base")
    try:
        with pytest.raises(SchemaBehind, match="run `pricecast migrate`"):
            check_schema(settings)
    finally:
        migrate.upgrade(settings)


def test_embedded_default_migrates_itself(tmp_path):
    from service.api import check_schema
    from service.db import make_engine

    s = Settings(data_dir=tmp_path / "fresh")
    check_schema(s)
    from service import migrate

    assert migrate.current_revision(make_engine(s.db_url)) == migrate.head_revision(s)


@pytest.mark.parametrize("content_type", ["image/png", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_csv_json_or_multipart_is_415(client, content_type):
    err = assert_error(client.post("/series/X", content=b"date,close\n2024-01-02,1\n",
                                   headers={"content-type": content_type}), 415, "unsupported_media_type")
    assert content_type in err["message"] and "text/csv" in err["message"]
    assert_error(client.get("/series/X"), 404, "not_found")  # nothing stored
    assert_error(client.post("/series", content=b"ticker,date,close\nA,2024-01-02,1\n",
                             headers={"content-type": content_type}), 415, "unsupported_media_type")


@pytest.mark.parametrize("headers", [{"content-type": "text/csv; charset=utf-8"}, {"content-type": "text/plain"},
                                     {"content-type": "application/csv"}, {}])
def test_csv_text_plain_and_no_content_type_are_csv(client, headers):
    r = client.post("/series/X", content=b"date,close\n2024-01-02,1\n", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["rows_inserted"] == 1


def test_bulk_import_refuses_json_with_415(client):
    err = assert_error(client.post("/series", json={"points": []}), 415, "unsupported_media_type")
    assert "ticker column" in err["message"]


def test_a_bad_path_ticker_gets_the_rule_in_words_not_the_regex(client):
    err = assert_error(client.get("/series/a b"), 422, "invalid_input")
    assert "letters, digits and" in err["message"] and "BRK.B" in err["message"]
    assert "[A-Za-z" not in err["message"] and len(err["details"]["fields"]) == 1


def test_list_pages_by_symbol_with_a_prefix_a_cursor_and_a_total(client):
    symbols = ["A", "AA", "AA_B", "AAXB", "AB", "B", "BRK.B", "^GSPC"]
    body = "ticker,date,close\n" + "".join(f"{t},2024-01-02,1\n{t},2024-01-03,2\n" for t in symbols)
    assert client.post("/series", content=body, headers=CSV).status_code == 200
    seen, after, pages = [], None, 0
    while True:  # walk every page of 3: each ticker once, in order, and `total` on each page
        page = client.get("/series", params={"limit": 3, **({"after": after} if after else {})}).json()
        assert page["total"] == len(symbols) and len(page["series"]) <= 3
        seen += [s["ticker"] for s in page["series"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert seen == sorted(symbols) and pages == 3
    aa = client.get("/series", params={"prefix": "aa"}).json()
    assert [s["ticker"] for s in aa["series"]] == ["AA", "AAXB", "AA_B"] and aa["total"] == 3  # byte order
    assert aa["series"][0]["rows"] == 2 and aa["next"] is None
    # `_` is a literal, not a LIKE wildcard: AA_ matches AA_B only, not AAXB.
    assert [s["ticker"] for s in client.get("/series", params={"prefix": "AA_"}).json()["series"]] == ["AA_B"]
    one = client.get("/series", params={"prefix": "A", "limit": 1}).json()
    assert ([s["ticker"] for s in one["series"]], one["total"], one["next"]) == (["A"], 5, "A")
    assert client.get("/series", params={"prefix": "ZZ"}).json() == {"series": [], "total": 0, "next": None}
    err = assert_error(client.get("/series", params={"prefix": "A%"}), 422, "invalid_input")
    assert "prefix='A%'" in err["message"]
    assert_error(client.get("/series", params={"limit": 1001}), 422, "invalid_input")
    assert_error(client.get("/series", params={"limit": 0}), 422, "invalid_input")
