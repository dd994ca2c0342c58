"""A corrupted active checkpoint, seen from a second process.

tests/api/test_forecast_api.py covers one process (a cache miss refuses the file by hash, the
version is marked broken, a retrain repairs it). Here process A trains and has the model in
memory; its checkpoint is then damaged where it is stored: process B, loading it for the first time, refuses
it by hash and marks it broken, and A, whose in-memory copy is still intact, follows the
registry and refuses too. A retrain in A repairs both. The same with either checkpoint store: a
row of model_checkpoint (the default) or a file.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.e2e.server import ServerProcess
from tests.e2e.test_jobs import finished, train, upload, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TINY = {"window": 8, "hidden_size": 8, "epochs": 3, "patience": 3}


@pytest.mark.parametrize("store", ["database", "files"])
def test_second_process_refuses_a_corrupted_checkpoint_and_every_process_sees_it_broken(tmp_path, store):
    shared = {"data_dir": str(tmp_path / "var"), "log_level": "warning", "checkpoint_store": store}
    with ServerProcess(tmp_path / "a.log", **shared) as a, \
            ServerProcess(tmp_path / "b.log", embedded_worker="false", **shared) as b, \
            httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
        upload(ca, "IBM", "IBM.csv")
        assert wait_for(ca, train(ca, "IBM", **TINY)["id"], finished)[-1]["status"] == "succeeded"
        assert ca.post("/forecast", json={"ticker": "IBM"}).status_code == 200  # A caches the model

        if store == "files":
            [path] = (tmp_path / "var" / "checkpoints").glob("*.safetensors")
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
        else:
            assert not (tmp_path / "var" / "checkpoints").exists()
            with sqlite3.connect(tmp_path / "var" / "pricecast.db", timeout=30) as db:
                [(mid, blob)] = db.execute("SELECT model_version_id, data FROM model_checkpoint").fetchall()
                data = bytearray(blob)
                data[len(data) // 2] ^= 0xFF
                db.execute("UPDATE model_checkpoint SET data = ? WHERE model_version_id = ?", (bytes(data), mid))

        refused = cb.post("/forecast", json={"ticker": "IBM"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict", refused.text
        assert "broken" in refused.json()["error"]["message"]
        model = ca.get("/series/IBM/models/1").json()
        assert model["status"] == "broken" and "sha256" in model["promotion"], model
        in_a = ca.post("/forecast", json={"ticker": "IBM"})  # A's cached copy is not trusted over the registry
        assert in_a.status_code == 409 and in_a.json()["error"]["code"] == "conflict", in_a.text

        assert wait_for(ca, train(ca, "IBM", seed=3, **TINY)["id"], finished)[-1]["status"] == "succeeded"
        for client in (ca, cb):
            r = client.post("/forecast", json={"ticker": "IBM"})
            assert r.status_code == 200 and r.json()["model"]["version"] == 2, r.text
