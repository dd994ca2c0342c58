"""Postgres stops while the API serves: 503 `unavailable` (no crash); it starts again: the API recovers."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CSV = b"date,close\n2024-01-02,10.5\n2024-01-03,11.0\n2024-01-04,11.25\n"
MORE = b"date,close\n2024-01-05,12.0\n"


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable", response.text
    assert response.headers.get("retry-after"), response.headers


def wait_ready(client: httpx.Client, timeout: float = 30) -> float:
    """Poll /readyz until 200; return how long it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if client.get("/readyz").status_code == 200:
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"/readyz not 200 within {timeout}s after Postgres came back: {client.get('/readyz').text}")


def test_api_answers_503_while_postgres_is_down_and_recovers_without_restart(own_postgres, tmp_path):
    settings = {"database_url": own_postgres.url, "data_dir": str(tmp_path / "var"), "embedded_worker": "false",
                "job_reap_interval": "0.5"}
    with ServerProcess(tmp_path / "server.log", **settings) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/series/OUT", content=CSV, headers={"content-type": "text/csv"}).status_code == 200
        assert client.get("/readyz").status_code == 200
        pid = server.proc.pid

        own_postgres.stop()
        for _ in range(3):  # every pooled connection is dead: each attempt must fail cleanly, not hang
            assert_unavailable(client.get("/readyz"))
            assert_unavailable(client.get("/series/OUT"))
            assert_unavailable(client.get("/series"))
            assert_unavailable(client.post("/series/OUT", content=MORE, headers={"content-type": "text/csv"}))
            assert_unavailable(client.post("/forecast", json={"ticker": "OUT"}))
            assert_unavailable(client.post("/series/OUT/train", json={}))
        assert client.get("/healthz").status_code == 200
        time.sleep(1.5)  # the reaper's passes fail meanwhile; the process must survive them
        assert server.proc.poll() is None, server.log()

        own_postgres.start()
        took = wait_ready(client)
        print(f"\nready again {took:.2f}s after Postgres started")
        assert server.proc.poll() is None and server.proc.pid == pid  # recovered in place, not restarted
        r = client.post("/series/OUT", content=MORE, headers={"content-type": "text/csv"})
        assert r.status_code == 200 and r.json()["rows_inserted"] == 1, r.text
        points = client.get("/series/OUT").json()["points"]
        assert [p["close"] for p in points] == [10.5, 11.0, 11.25, 12.0]  # nothing lost or half-written
        assert "Traceback" not in server.log()
