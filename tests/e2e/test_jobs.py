"""Training end to end: real server and worker processes, the real queue, over HTTP.

Embedded default: SQLite and the consumer inside `pricecast serve`. Distributed: Postgres,
Redis, an API without a consumer, and two `pricecast worker` processes that share no data
directory (checkpoints live in Postgres); the API serves what both trained, then a worker is
killed with SIGKILL mid-training and its job finishes on the other one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import data_file
from tests.e2e.server import ServerProcess, WorkerProcess

pytestmark = pytest.mark.e2e
FAST_REAPER = {"job_heartbeat_timeout": "2", "job_reap_interval": "0.5"}
SLOW = {"epochs": 60, "patience": 60}  # a job that runs for several seconds


def upload(client: httpx.Client, ticker: str, name: str) -> None:
    r = client.post(f"/series/{ticker}", content=data_file(name).read_bytes(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text


def train(client: httpx.Client, ticker: str, **params) -> dict:
    r = client.post(f"/series/{ticker}/train", json=params)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/jobs/{r.json()['id']}"
    return r.json()


def wait_for(client: httpx.Client, job_id: int, done: Callable[[dict], bool], timeout: float = 120) -> list[dict]:
    """Poll a job until done(job); return every state seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        seen.append(job)
        if done(job):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {seen[-1]['status']} after {timeout}s: {seen[-1]}")


def finished(job: dict) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def test_embedded_default_trains_promotes_activates_and_cancels(tmp_path):
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"), **FAST_REAPER) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        upload(client, "SPX", "SPX.csv")
        job = train(client, "SPX", epochs=12, patience=12)
        assert job["status"] == "queued"
        again = client.post("/series/SPX/train")
        assert again.status_code == 200 and again.json()["id"] == job["id"]  # deduplicated
        states = wait_for(client, job["id"], finished)
        assert [s["status"] for s in states][-1] == "succeeded", states[-1]
        assert "running" in {s["status"] for s in states}
        assert len(states[-1]["history"]) == states[-1]["progress"]["epoch"] == 12
        assert states[-1]["model_version"] == 1
        first = client.get("/series/SPX/models/1").json()
        assert first["status"] == "active" and first["comparison"]["persistence"]["rmse"] > 0
        assert len(client.get("/series/SPX/models/1/backtest").json()["points"]) == first["metrics"]["n_test"]

        second = wait_for(client, train(client, "SPX", seed=11)["id"], finished)[-1]
        assert second["status"] == "succeeded" and second["model_version"] == 2
        assert second["message"].startswith("version 2: ")
        assert client.post("/series/SPX/models/1/activate").json()["status"] == "active"
        assert [m["status"] for m in client.get("/series/SPX/models").json()["models"]][-1] == "active"

        slow = train(client, "SPX", seed=12, **SLOW)
        wait_for(client, slow["id"], lambda j: j["progress"].get("epoch", 0) >= 2)
        r = client.post(f"/jobs/{slow['id']}/cancel")
        assert r.status_code == 202 and r.json()["cancel_requested"] is True
        cancelled = wait_for(client, slow["id"], finished, timeout=30)[-1]
        assert cancelled["status"] == "cancelled" and cancelled["model_version"] is None
        assert client.post(f"/jobs/{slow['id']}/cancel").status_code == 409
        assert len(client.get("/series/SPX/models").json()["models"]) == 2


def test_embedded_bulk_request_trains_in_groups_with_progress_and_cancel_per_ticker(tmp_path):
    settings = {"workers": "2", "train_group_size": "2", **FAST_REAPER}
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"), **settings) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        names = {"SPX": "SPX.csv", "MSFT": "MSFT.csv", "IBM": "IBM.csv", "FB": "FB.csv"}
        for ticker, name in names.items():
            upload(client, ticker, name)
        r = client.post("/train", json={"tickers": list(names), "params": {"epochs": 40, "patience": 40}})
        assert r.status_code == 202 and not r.json()["errors"], r.text
        jobs = {j["ticker"]: j["id"] for j in r.json()["jobs"]}
        victim = wait_for(client, jobs["MSFT"], lambda j: j["progress"].get("epoch", 0) >= 2)[-1]
        assert victim["status"] == "running" and victim["progress"]["group_size"] == 2
        assert client.post(f"/jobs/{victim['id']}/cancel").status_code == 202
        done = {t: wait_for(client, i, finished, timeout=300)[-1] for t, i in jobs.items()}
        assert done["MSFT"]["status"] == "cancelled" and done["MSFT"]["model_version"] is None
        for ticker in ("SPX", "IBM", "FB"):
            job = done[ticker]
            assert job["status"] == "succeeded" and job["model_version"] == 1, job
            assert len(job["history"]) == job["progress"]["epoch"] and job["progress"]["group"] in jobs.values()
        groups = [j["progress"]["group"] for j in done.values()]
        assert sorted(groups.count(g) for g in set(groups)) == [2, 2]  # two groups of two, whoever led them
        members = client.get("/jobs", params={"group": victim["progress"]["group"]}).json()["jobs"]
        assert len(members) == 2 and victim["id"] in {j["id"] for j in members}
        assert client.post("/forecast", json={"tickers": ["SPX", "IBM", "FB"]}).json()["errors"] == []


@pytest.mark.postgres
@pytest.mark.slow
def test_distributed_two_workers_then_sigkill_recovery(tmp_path, fresh_postgres_url, redis_url):
    # No shared folder: each process has a data directory of its own; checkpoints travel through Postgres.
    common = {"database_url": fresh_postgres_url, "queue_url": redis_url, **FAST_REAPER}
    dirs = [tmp_path / name for name in ("worker0", "worker1", "api")]
    workers = [WorkerProcess(tmp_path / f"worker{i}.log", data_dir=str(dirs[i]), **common) for i in range(2)]
    try:
        with ServerProcess(tmp_path / "api.log", embedded_worker="false", data_dir=str(dirs[2]), **common) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            upload(client, "SPX", "SPX.csv")
            upload(client, "MSFT", "MSFT.csv")
            jobs = [train(client, "SPX", epochs=25, patience=25), train(client, "MSFT", epochs=25, patience=25)]
            both_running = wait_for(client, jobs[0]["id"], lambda j: j["status"] == "running")
            assert both_running
            wait_for(client, jobs[1]["id"], lambda j: j["status"] in ("running", "succeeded"))
            done = [wait_for(client, j["id"], finished)[-1] for j in jobs]
            assert [d["status"] for d in done] == ["succeeded", "succeeded"], done
            assert done[0]["worker_id"] != done[1]["worker_id"]  # trained at once, on different workers
            assert [d["model_version"] for d in done] == [1, 1]
            # The API serves both models, each trained on another host's disk (here: directory).
            both = client.post("/forecast", json={"tickers": ["SPX", "MSFT"]}).json()
            assert [f["ticker"] for f in both["forecasts"]] == ["SPX", "MSFT"] and both["errors"] == []

            # SIGKILL the worker process running a job: the reaper re-queues it, the other worker finishes it.
            slow = train(client, "SPX", seed=5, **SLOW)
            running = wait_for(client, slow["id"], lambda j: j["progress"].get("epoch", 0) >= 2)[-1]
            victim = int(running["worker_id"].rsplit(":", 1)[1])
            os.kill(victim, signal.SIGKILL)
            final = wait_for(client, slow["id"], finished, timeout=180)[-1]
            assert final["status"] == "succeeded", final
            assert final["attempts"] == 2 and final["worker_id"] != running["worker_id"]
            assert final["model_version"] == 2
            v2 = client.post("/forecast", json={"ticker": "SPX", "model_version": 2})
            assert v2.status_code == 200 and v2.json()["model"]["version"] == 2, v2.text
            assert not any((d / "checkpoints").exists() for d in dirs), "a checkpoint was written to a disk"
    finally:
        for w in workers:
            w.stop()
