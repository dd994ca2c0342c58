"""The real `pricecast serve` process over HTTP on loopback."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT, data_file
from tests.e2e.server import ServerProcess, pricecast_env

pytestmark = pytest.mark.e2e


def test_embedded_server_uploads_lists_and_rejects_over_http(tmp_path):
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var")) as server:
        body = data_file("MSFT.csv").read_bytes()
        r = httpx.post(f"{server.url}/series/MSFT", content=body, headers={"content-type": "text/csv"}, timeout=60)
        assert r.status_code == 200 and r.json()["rows_inserted"] == 7983
        r = httpx.post(f"{server.url}/series/MSFT", content=body, headers={"content-type": "text/csv"}, timeout=60)
        assert r.json()["rows_unchanged"] == 7983
        bad = httpx.post(f"{server.url}/series/MSFT", content=b"date,close\n2024-01-02,oops\n",
                         headers={"content-type": "text/csv"})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["rows"][0]["line"] == 2
        assert "Traceback" not in bad.text
        assert httpx.get(f"{server.url}/series").json()["series"][0]["rows"] == 7983
        assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    assert (tmp_path / "var" / "pricecast.db").exists()
    # uvicorn re-raises SIGTERM after a graceful shutdown, so -15 is a clean exit here.
    assert server.proc.returncode in (0, -15) and "Application shutdown complete" in server.log()


@pytest.mark.postgres
def test_serve_refuses_postgres_schema_behind_head(postgres_url, tmp_path):
    from service import migrate
    from service.settings import Settings

    settings = Settings(database_url=postgres_url)
    migrate.downgrade(settings, "base")
    try:
        out = subprocess.run([sys.executable, "-m", "service", "serve"], cwd=ROOT, capture_output=True, text=True,
                             env=pricecast_env(database_url=postgres_url, port="1"), timeout=60)
        assert out.returncode != 0
        assert "run `pricecast migrate`" in out.stderr
    finally:
        migrate.upgrade(settings)
