"""Forecasts from real server processes: a second process sees an activation without a restart."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.server import ServerProcess
from tests.e2e.test_jobs import finished, train, upload, wait_for

pytestmark = pytest.mark.e2e


def test_activation_in_one_process_changes_the_next_forecast_in_another(tmp_path):
    shared = {"data_dir": str(tmp_path / "var"), "promotion_policy": "always"}
    with ServerProcess(tmp_path / "a.log", **shared) as a, \
            ServerProcess(tmp_path / "b.log", embedded_worker="false", **shared) as b, \
            httpx.Client(base_url=a.url, timeout=30) as ca, httpx.Client(base_url=b.url, timeout=30) as cb:
        upload(ca, "MSFT", "MSFT.csv")
        for seed in (1, 2):
            assert wait_for(ca, train(ca, "MSFT", seed=seed)["id"], finished)[-1]["status"] == "succeeded"
        first = cb.post("/forecast", json={"ticker": "MSFT"}).json()
        assert first["model"]["version"] == 2 and first["price_field"] == "close"
        assert cb.post("/forecast", json={"ticker": "MSFT"}).json() == first  # cached answer, same content
        assert ca.post("/series/MSFT/models/1/activate").status_code == 200
        second = cb.post("/forecast", json={"ticker": "MSFT"}).json()
        assert second["model"]["version"] == 1
        batch = cb.post("/forecast", json={"tickers": ["MSFT", "NOPE"]}).json()
        assert [f["model"]["version"] for f in batch["forecasts"]] == [1]
        assert batch["errors"][0]["code"] == "not_found"
