"""Training jobs: does the API stay responsive while the embedded worker trains, and do two workers scale?

1. Embedded worker, training in a thread of the server vs in a child process: GET /healthz
   latency (p50/p99, sequential requests from this process) while one SPX job trains with
   40 epochs (patience 40), against the same measurement with nothing training.
2. Two jobs (SPX and MSFT, same parameters) on `pricecast worker --workers 2` (two processes,
   one torch thread each) vs the same two jobs on `--workers 1` (one after the other): wall time
   from submit to both succeeded. Uses Redis and Postgres when available, else SQLite.

    .venv/bin/python bench/jobs.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _server import ROOT, Server, data_path

PARAMS = {"epochs": 40, "patience": 40}


def upload(c: httpx.Client, name: str) -> None:
    r = c.post(f"/series/{name}", content=data_path(f"{name}.csv").read_bytes(), headers={"content-type": "text/csv"})
    r.raise_for_status()


def wait(c: httpx.Client, job_ids: list[int]) -> None:
    while True:
        states = [c.get(f"/jobs/{j}").json()["status"] for j in job_ids]
        if all(s in ("succeeded", "failed", "cancelled") for s in states):
            assert all(s == "succeeded" for s in states), states
            return
        time.sleep(0.05)


def probe(c: httpx.Client, stop: threading.Event) -> list[float]:
    lat = []
    while not stop.is_set():
        t = time.perf_counter()
        c.get("/healthz")
        lat.append((time.perf_counter() - t) * 1000)
        time.sleep(0.005)
    return lat


def responsiveness(mode: str, tmp: Path) -> None:
    with Server(tmp / f"{mode}.log", data_dir=str(tmp / mode), embedded_training=mode) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        upload(c, "SPX")
        c.post("/series/SPX/train", json={"epochs": 2}).raise_for_status()  # warm up (fork server, imports)
        wait(c, [1])
        stop = threading.Event()
        idle: list[float] = []
        t = threading.Thread(target=lambda: idle.extend(probe(c, stop)))
        t.start()
        time.sleep(2)
        stop.set()
        t.join()
        stop = threading.Event()
        busy: list[float] = []
        t = threading.Thread(target=lambda: busy.extend(probe(c, stop)))
        start = time.perf_counter()
        job = c.post("/series/SPX/train", json={**PARAMS, "seed": 1}).json()["id"]
        t.start()
        wait(c, [job])
        took = time.perf_counter() - start
        stop.set()
        t.join()
        q = lambda xs, p: sorted(xs)[int(len(xs) * p)]  # noqa: E731
        print(f"embedded training in a {mode:7s}: healthz idle p50 {statistics.median(idle):5.2f} ms p99 {q(idle, .99):6.2f} ms"
              f" | while training p50 {statistics.median(busy):5.2f} ms p99 {q(busy, .99):6.2f} ms "
              f"({len(busy)} probes; job took {took:.1f}s)")


def scaling(tmp: Path) -> None:
    queue = os.environ.get("PRICECAST_BENCH_REDIS", "redis://127.0.0.1:6379/14")
    try:
        import redis

        redis.Redis.from_url(queue).flushdb()
    except Exception:  # noqa: BLE001
        print("scaling: Redis not reachable, skipped")
        return
    for workers in (1, 2):
        data = tmp / f"w{workers}"
        settings = {"data_dir": str(data), "queue_url": queue, "embedded_worker": "false"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRICECAST_")}
        env |= {f"PRICECAST_{k.upper()}": v for k, v in settings.items()}
        with Server(tmp / f"api{workers}.log", **settings) as server, httpx.Client(base_url=server.url, timeout=60) as c:
            worker = subprocess.Popen([sys.executable, "-m", "service", "worker", "--workers", str(workers)], cwd=ROOT,
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                upload(c, "SPX")
                upload(c, "MSFT")
                warm = c.post("/series/SPX/train", json={"epochs": 1}).json()["id"]
                wait(c, [warm])
                start = time.perf_counter()
                jobs = [c.post(f"/series/{t}/train", json={**PARAMS, "seed": 2}).json()["id"] for t in ("SPX", "MSFT")]
                wait(c, jobs)
                took = time.perf_counter() - start
                ids = {c.get(f"/jobs/{j}").json()["worker_id"] for j in jobs}
            finally:
                worker.terminate()
                worker.wait(30)
        print(f"two jobs on --workers {workers}: {took:5.2f} s wall ({len(ids)} distinct worker processes)")
        if workers == 1:
            one = took
    print(f"two workers vs one: {one / took:.2f}x faster (goal: not slower, >= 1.0x)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for mode in ("thread", "process"):
            responsiveness(mode, tmp)
        scaling(tmp)


if __name__ == "__main__":
    main()
