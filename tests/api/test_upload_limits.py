"""Hostile upload shapes over HTTP (issue 13 rows 2-4): a clear 422 naming the limit, in bounded time and memory."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from fastapi.testclient import TestClient

from service import migrate
from service.api import create_app
from service.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def client(tmp_path):
    """SQLite only: these requests never reach the database."""
    settings = Settings(data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'limits.db'}",
                        embedded_worker=False, rate_limit="off")
    migrate.upgrade(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def timed_post(client, path: str, **kwargs):
    """POST and return (response, seconds, peak bytes of Python memory during the request)."""
    tracemalloc.start()
    start = time.perf_counter()
    response = client.post(path, **kwargs)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return response, elapsed, peak


def csv_post(client, body: bytes, multipart: bool):
    if multipart:
        return timed_post(client, "/series/HOSTILE", files={"file": ("prices.csv", body, "text/csv")})
    return timed_post(client, "/series/HOSTILE", content=body, headers={"content-type": "text/csv"})


SHAPES = {
    "80,000 columns": (b"date,close," + b"x," * 80_000 + b"\n2024-01-02,1\n", "max_upload_line_bytes=10000"),
    "10 million columns": (b"date,close," + b"x," * 10_000_000 + b"\n2024-01-02,1\n", "max_upload_line_bytes=10000"),
    "40 MB of blank lines": (b"date,close\n" + b"\n" * 40_000_000 + b"2024-01-02,1\n",
                             "max_upload_rows=200000 (PRICECAST_MAX_UPLOAD_ROWS; blank lines count)"),
    "one 30 MB line": (b"date,close\n2024-01-02," + b"7" * 30_000_000 + b"\n", "PRICECAST_MAX_UPLOAD_LINE_BYTES"),
    "many empty fields": (b"date,close\n" + (b"2024-01-02,1" + b"," * 9_000 + b"\n") * 1_000, "expected 2 fields, got 9002"),
}


@pytest.mark.parametrize("multipart", [False, True], ids=["csv", "multipart"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_hostile_csv_shapes_are_refused_quickly(client, shape, multipart):
    body, expected = SHAPES[shape]
    response, elapsed, peak = csv_post(client, body, multipart)
    assert response.status_code == 422, response.text[:300]
    assert expected in response.text
    assert elapsed < 30, f"{elapsed:.1f} s"
    assert peak < 8 * len(body) + 50_000_000, f"{peak:,} bytes for a {len(body):,}-byte body"
    assert client.get("/series/HOSTILE").status_code == 404  # nothing stored


def test_far_dates_are_refused_at_upload_and_in_inline_forecast_prices(client):
    response = client.post("/series/FAR", content=b"date,close\n2024-01-02,1\n9999-12-31,2\n",
                           headers={"content-type": "text/csv"})
    assert response.status_code == 422
    row = response.json()["error"]["details"]["rows"][0]
    assert row == {"line": 3, "column": "date", "value": "9999-12-31",
                   "reason": "outside the supported range 1700-01-01 .. 2199-12-31"}
    prices = [{"date": f"2024-01-{d:02d}", "close": 100 + d} for d in range(1, 30)] + [{"date": "9999-12-31", "close": 1}]
    response = client.post("/forecast", json={"ticker": "FAR", "prices": prices})
    assert response.status_code == 422 and "outside the supported range" in response.text


def test_huge_json_values_are_echoed_short(client):
    response = client.post("/series/J", json={"points": [{"date": "2024-01-02", "close": "9" * 1_000_000 + "x"}]})
    assert response.status_code == 422 and len(response.content) < 2_000
