"""Property tests for the upload parser through the API: never a 5xx, never a partial write."""

from __future__ import annotations

import codecs
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api import check_schema, create_app
from service.settings import Settings

BASELINE = "date,close,volume\n2020-01-02,10,1\n2020-01-03,11,2\n"
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["nan", "NaN", "-nan", "inf", "-Infinity", "INF", "1e400", "-1e-400", "0", "-0", "1,5", " 7 ",
                     "1_000", "0x10", "", "  ", "1e308", "4.9e-324", "١٢", "½", "None", "null", "true"]),
)
DATES = st.one_of(st.dates().map(str), st.sampled_from(["2020-01-02", "2020-02-30", "02/01/2020", "2020-1-2", "",
                                                         "2020-01-02T00:00:00", "2020-01-02 00:00", "9999-12-31"]))
HEADERS = st.lists(st.sampled_from(["date", "close", "open", "high", "low", "adj_close", "Adj Close", "volume",
                                    "note", "Date", "CLOSE", ""]), min_size=1, max_size=6)


@st.composite
def csv_bodies(draw) -> bytes:
    header = draw(HEADERS)
    rows = draw(st.lists(st.lists(st.one_of(NUMBERS, DATES), min_size=0, max_size=len(header) + 1), max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote = draw(st.booleans())
    cell = (lambda c: '"' + c.replace('"', '""') + '"') if quote else (lambda c: c)
    text = newline.join([",".join(map(cell, header))] + [",".join(map(cell, r)) for r in rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return codecs.BOM_UTF8 + text.encode("utf-8", "replace")


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
POINTS = st.fixed_dictionaries({"points": st.lists(st.fixed_dictionaries(
    {"date": DATES, "close": st.one_of(NUMBERS, st.floats(), st.integers())},
    optional={"volume": st.one_of(st.integers(), st.floats(), NUMBERS), "open": st.floats()}), max_size=6)})


@pytest.fixture(scope="module")
def client():
    folder = Path(tempfile.mkdtemp(prefix="pricecast-props-"))
    s = Settings(data_dir=folder / "var", embedded_worker=False, rate_limit="off", max_upload_bytes=4096)
    check_schema(s)
    with TestClient(create_app(s)) as c:
        assert c.post("/series/BASE", content=BASELINE, headers={"content-type": "text/csv"}).status_code == 200
        yield c
    shutil.rmtree(folder, ignore_errors=True)


def stored(client) -> list[dict]:
    return client.get("/series/BASE").json()["points"]


def check(client, response, before) -> None:
    assert response.status_code in (200, 413, 422), response.text
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error", "request_id"} and "Traceback" not in response.text
        assert stored(client) == before  # rejected whole: nothing half-stored


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(csv_bodies(), st.binary(max_size=300)))
def test_any_csv_or_bytes_gets_a_definite_answer_and_no_partial_write(client, body):
    before = stored(client)
    check(client, client.post("/series/BASE", content=body, headers={"content-type": "text/csv"}), before)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(POINTS, JSON_VALUES))
def test_any_json_gets_a_definite_answer_and_no_partial_write(client, payload):
    before = stored(client)
    check(client, client.post("/series/BASE", content=json.dumps(payload), headers={"content-type": "application/json"}),
          before)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(min_size=4097, max_size=6000))
def test_bodies_over_the_limit_are_413(client, body):
    before = stored(client)
    r = client.post("/series/BASE", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert stored(client) == before
