"""SIGTERM mid-work: the server finishes in-flight requests and exits; a worker's job is never stuck `running`."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.server import ServerProcess, WorkerProcess
from tests.e2e.test_jobs import finished, train, upload, wait_for
from tests.faults.test_concurrent_uploads import business_days

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CLIENTS, ROWS, CHUNKS = 8, 300, 10


def slow_body(ticker_index: int, started: threading.Event) -> Iterator[bytes]:
    """A CSV upload streamed in chunks over about two seconds (chunked transfer encoding)."""
    days = business_days(ROWS)
    rows = [f"{d.isoformat()},{100 + ticker_index + i / 100}\n" for i, d in enumerate(days)]
    yield b"date,close\n"
    started.set()
    step = ROWS // CHUNKS
    for i in range(0, ROWS, step):
        time.sleep(0.2)
        yield "".join(rows[i:i + step]).encode()


def test_sigterm_lets_in_flight_requests_finish_then_the_server_exits(tmp_path):
    server = ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"))
    server.wait_ready()
    started = [threading.Event() for _ in range(CLIENTS)]
    results: list[object] = [None] * CLIENTS

    def one(i: int) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                results[i] = client.post(f"/series/SIG{i}", content=slow_body(i, started[i]),
                                         headers={"content-type": "text/csv"})
        except httpx.HTTPError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        assert all(e.wait(10) for e in started)
        time.sleep(0.3)  # every request's headers and first chunk have reached the server
        sent_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        code = server.proc.wait(30)
        exited_after = time.monotonic() - sent_at
    finally:
        server.stop()
    log = server.log()
    print(f"\nserver exited {exited_after:.2f}s after SIGTERM with code {code}")
    failed = {i: r for i, r in enumerate(results) if not (isinstance(r, httpx.Response) and r.status_code == 200)}
    assert not failed, f"in-flight uploads did not complete: {failed}\n{log[-3000:]}"
    assert all(r.json()["rows_inserted"] == ROWS for r in results)
    assert exited_after >= 1.0, "the server exited before its in-flight requests could have finished"
    # uvicorn re-raises the signal after a graceful shutdown, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'pricecast.db'}")
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT t.symbol, count(*) FROM price_point p JOIN ticker t "
                                        "ON t.id = p.ticker_id GROUP BY t.symbol")).all())
    engine.dispose()
    assert stored == {f"SIG{i}": ROWS for i in range(CLIENTS)}


def parent_pid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


@pytest.mark.postgres
def test_sigterm_to_a_worker_mid_job_requeues_it_and_another_worker_finishes_it(tmp_path, fresh_postgres_url,
                                                                                 redis_url):
    # A long heartbeat timeout: only the interrupted worker releasing its job can re-queue it quickly.
    common = {"database_url": fresh_postgres_url, "queue_url": redis_url, "data_dir": str(tmp_path / "shared"),
              "job_heartbeat_timeout": "60", "job_reap_interval": "0.5"}
    workers = [WorkerProcess(tmp_path / f"worker{i}.log", **common) for i in range(2)]
    try:
        with ServerProcess(tmp_path / "api.log", embedded_worker="false", **common) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            upload(client, "SPX", "SPX.csv")
            job = train(client, "SPX", epochs=30, patience=30)
            running = wait_for(client, job["id"], lambda j: j["progress"].get("epoch", 0) >= 2, timeout=60)[-1]
            assert running["status"] == "running" and running["attempts"] == 1
            child = int(running["worker_id"].rsplit(":", 1)[1])
            victim = next(w for w in workers if w.proc.pid == parent_pid(child))

            victim.proc.send_signal(signal.SIGTERM)
            sent_at = time.monotonic()
            left = wait_for(client, job["id"], lambda j: j["status"] != "running" or j["attempts"] > 1,
                            timeout=10)[-1]
            requeued_after = time.monotonic() - sent_at
            assert victim.proc.wait(15) is not None
            final = wait_for(client, job["id"], finished, timeout=120)[-1]
            print(f"\njob left attempt 1 {requeued_after:.2f}s after SIGTERM ({left['status']}); "
                  f"worker exited with {victim.proc.returncode}; final {final['status']} "
                  f"attempts={final['attempts']}")
            assert final["status"] == "succeeded", final
            assert final["attempts"] == 2 and final["worker_id"] != running["worker_id"], final
            assert final["model_version"] == 1
            assert "releasing it to the reaper" in victim.log(), victim.log()[-3000:]
            assert client.get("/jobs", params={"status": "running"}).json()["jobs"] == []
    finally:
        for w in workers:
            w.stop()
    assert not any(os.path.exists(f"/proc/{w.proc.pid}") and w.proc.poll() is None for w in workers)


LONG = {"window": 64, "hidden_size": 64, "batch_size": 8, "epochs": 500, "patience": 500}  # minutes of training


def _job_row(db: Path, job_id: int) -> dict:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, attempts, worker_id, message FROM training_job WHERE id = :id"),
                           {"id": job_id}).mappings().one()
    engine.dispose()
    return dict(row)


def _gone(pid: int, timeout: float) -> float | None:
    """Seconds until pid is gone (or a zombie), None if it still runs after timeout."""
    start = time.monotonic()
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return time.monotonic() - start
        if state in ("Z", "X"):
            return time.monotonic() - start
        if time.monotonic() - start >= timeout:
            return None
        time.sleep(0.05)


def test_kill_9_of_the_server_takes_its_training_child_with_it(tmp_path):
    """Issue 13 row 7: the child lived on as an orphan, heart-beating, the job `running` forever."""
    server = ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"))
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            upload(client, "SPX", "SPX.csv")
            job = train(client, "SPX", **LONG)
            running = wait_for(client, job["id"], lambda j: j["status"] == "running" and j["worker_id"], timeout=60)[-1]
        child = int(running["worker_id"].rsplit(":", 1)[1])
        assert _gone(child, 0.5) is None  # it trains
        server.proc.kill()
        server.proc.wait(10)
        died_after = _gone(child, 15)
        print(f"\ntraining child gone {died_after}s after kill -9 of the server")
        assert died_after is not None, f"training child {child} outlived its server"
    finally:
        server.stop()
    row = _job_row(tmp_path / "var" / "pricecast.db", job["id"])
    assert row["status"] == "queued" and row["attempts"] == 0 and "shut down" in row["message"], row


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_sigterm_during_a_long_job_exits_in_bounded_time_and_the_job_runs_again_after_restart(tmp_path, mode):
    """Issue 13 row 8: still "shutting down gracefully" 3 minutes later. Now: stop at the next batch,
    re-queue, exit within PRICECAST_SHUTDOWN_TIMEOUT (+ uvicorn's wait for open requests, none here)."""
    settings = {"data_dir": str(tmp_path / "var"), "job_reap_interval": "0.5", "shutdown_timeout": "5",
                "embedded_training": mode}
    server = ServerProcess(tmp_path / "server.log", **settings)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            upload(client, "SPX", "SPX.csv")
            job = train(client, "SPX", **LONG)
            running = wait_for(client, job["id"], lambda j: j["progress"].get("epoch", 0) >= 1, timeout=120)[-1]
        child = int(running["worker_id"].rsplit(":", 1)[1])
        sent_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(60)
        exited_after = time.monotonic() - sent_at
        print(f"\nserver ({mode} training) exited {exited_after:.2f}s after SIGTERM mid-job (code {code})")
        assert exited_after < 5 + 5, server.log()[-3000:]
        assert code in (0, -signal.SIGTERM) and "Traceback" not in server.log(), server.log()[-3000:]
        assert _gone(child, 2) is not None
    finally:
        server.stop()
    row = _job_row(tmp_path / "var" / "pricecast.db", job["id"])
    assert row["status"] == "queued" and row["attempts"] == 0 and "shut down" in row["message"], row
    with ServerProcess(tmp_path / "server2.log", **settings) as again, \
            httpx.Client(base_url=again.url, timeout=30) as client:
        rerun = wait_for(client, job["id"], lambda j: j["status"] == "running", timeout=60)[-1]
        assert rerun["attempts"] == 1 and rerun["worker_id"] != running["worker_id"]
        assert client.post(f"/jobs/{job['id']}/cancel").status_code == 202
        assert wait_for(client, job["id"], finished, timeout=30)[-1]["status"] == "cancelled"


@pytest.mark.postgres
def test_kill_9_of_a_worker_takes_its_worker_processes_with_it(tmp_path, fresh_postgres_url, redis_url):
    """The class of issue 13 row 7 in `pricecast worker`: its forked processes outlived it, the busy
    one training on (heart-beating), the idle one polling the queue."""
    common = {"database_url": fresh_postgres_url, "queue_url": redis_url, "data_dir": str(tmp_path / "shared"),
              "job_reap_interval": "0.5"}
    worker = WorkerProcess(tmp_path / "worker.log", "--workers", "2", **common)
    children: list[int] = []
    try:
        with ServerProcess(tmp_path / "api.log", embedded_worker="false", **common) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            upload(client, "SPX", "SPX.csv")
            job = train(client, "SPX", **LONG)
            running = wait_for(client, job["id"], lambda j: j["progress"].get("epoch", 0) >= 1, timeout=120)[-1]
            busy = int(running["worker_id"].rsplit(":", 1)[1])
            children = [int(p) for p in Path(f"/proc/{worker.proc.pid}/task/{worker.proc.pid}/children")
                        .read_text().split()]
            assert busy in children and len(children) >= 2, children  # 2 workers (and huey's scheduler)
            worker.proc.kill()
            worker.proc.wait(10)
            gone = {pid: _gone(pid, 20) for pid in children}
            print(f"\nworker processes gone after kill -9 of their consumer: {gone}")
            assert all(t is not None for t in gone.values()), gone
            # the busy one released its job: the API's reaper puts it back in the queue at once
            back = wait_for(client, job["id"], lambda j: j["status"] == "queued", timeout=10)[-1]
            assert "released it" in back["message"], back
    finally:
        worker.stop()
        for pid in children:  # on a failure, no orphan outlives the test
            if _gone(pid, 0) is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
