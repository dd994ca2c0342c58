"""Scale: N tickers x D days through the real server, from bulk upload to every model active.

Starts `pricecast serve` (embedded worker, PRICECAST_WORKERS training processes, one torch thread
each) on a fresh data directory and database, then:
1. upload: N synthetic random walks (one seeded generator, a different walk per ticker) as
   long-format CSV through `POST /series`, in requests of at most --rows-per-request rows;
2. train: `POST /train {"all": true}` until no job is queued or running (every job must succeed);
3. forecast: `POST /forecast {"tickers": [...]}` for all tickers (in requests of at most
   PRICECAST_MAX_BATCH_TICKERS): the first call (cold) and the next (warm);
4. RSS of the server process after that (training runs in child processes and is not counted).
"CPU ms/ticker" is the CPU time the server and its child processes spent while training, per
ticker: on a machine shared with other work it moves less than wall time does. "load" is the
one-minute load average at the end (more than the core count: the numbers are contended).

Prints one table. --group 1 trains one ticker per job (the path before grouped training), so
one run with --group 1 and one with the default measure the change on the same machine and load.

    .venv/bin/python bench/scale.py --tickers 200 --days 1500
    .venv/bin/python bench/scale.py --tickers 1000 --days 1500 --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx
from _server import Server, postgres_database, synthetic_csv


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants, those still running and those it has waited for."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                    for c in (t / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    own = sum(int(v) for v in fields[11:15]) / tick  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(c) for c in children)


def count(c: httpx.Client, status: str) -> int:
    return len(c.get("/jobs", params={"status": status, "limit": 500}).json()["jobs"])


def upload(c: httpx.Client, symbols: list[str], days: int, per_request: int) -> float:
    per = max(1, per_request // days)
    bodies = [synthetic_csv(symbols[i: i + per], days, seed=i) for i in range(0, len(symbols), per)]
    t = time.perf_counter()
    for body in bodies:
        r = c.post("/series", content=body.encode(), headers={"content-type": "text/csv"})
        if r.status_code != 200:
            raise SystemExit(f"upload failed: {r.status_code} {r.text[:300]}")
    return time.perf_counter() - t


def train_all(c: httpx.Client, timeout: float) -> float:
    t = time.perf_counter()
    r = c.post("/train", json={"all": True})
    if r.status_code != 202 or r.json()["errors"]:
        raise SystemExit(f"train failed: {r.status_code} {r.text[:300]}")
    deadline = time.monotonic() + timeout
    while count(c, "queued") or count(c, "running"):
        if time.monotonic() > deadline:
            raise SystemExit("training did not finish")
        time.sleep(0.25)
    elapsed = time.perf_counter() - t
    failed = c.get("/jobs", params={"status": "failed", "limit": 5}).json()["jobs"]
    if failed:
        raise SystemExit(f"training failed: {failed[0]}")
    return elapsed


def forecast_all(c: httpx.Client, symbols: list[str], per_request: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(symbols), per_request):
        r = c.post("/forecast", json={"tickers": symbols[i: i + per_request]})
        if r.status_code != 200 or r.json()["errors"]:
            raise SystemExit(f"forecast failed: {r.status_code} {r.text[:300]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tickers", type=int, default=200)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="PRICECAST_WORKERS")
    ap.add_argument("--group", type=int, default=None, help="PRICECAST_TRAIN_GROUP_SIZE (default: the server's)")
    ap.add_argument("--database", default=None, help="a Postgres admin URL (a fresh database is made on it); "
                                                     "default: the embedded SQLite file")
    ap.add_argument("--rows-per-request", type=int, default=150_000)
    ap.add_argument("--timeout", type=float, default=7200)
    args = ap.parse_args()
    symbols = [f"T{i:05d}" for i in range(args.tickers)]
    batch = 1000
    settings = {"workers": str(args.workers), "max_bulk_tickers": str(max(1000, args.tickers)),
                "max_queued_jobs": str(max(1000, args.tickers)), "max_upload_rows": str(args.rows_per_request),
                "max_upload_bytes": str(64 * 1024 * 1024), "max_batch_tickers": str(batch),
                "model_cache_size": str(max(256, args.tickers))}
    if args.group is not None:
        settings["train_group_size"] = str(args.group)
    with tempfile.TemporaryDirectory() as tmp, postgres_database(args.database, "pricecast_scale") as url:
        if url:
            settings["database_url"] = url
        with Server(Path(tmp) / "server.log", data_dir=str(Path(tmp) / "var"), **settings) as server, \
                httpx.Client(base_url=server.url, timeout=600) as c:
            up = upload(c, symbols, args.days, args.rows_per_request)
            cpu = cpu_seconds(server.proc.pid)
            tr = train_all(c, args.timeout)
            cpu = cpu_seconds(server.proc.pid) - cpu
            cold = forecast_all(c, symbols, batch)
            warm = forecast_all(c, symbols, batch)
            rss = rss_mb(server.proc.pid)
    db = "postgres" if args.database else "sqlite"
    group = args.group if args.group is not None else "default"
    print(f"{'tickers':>7} {'days':>5} {'workers':>7} {'group':>7} {'db':>8} {'upload s':>9} {'train s':>9} "
          f"{'ms/ticker':>9} {'CPU ms/ticker':>13} {'fc cold ms':>10} {'fc warm ms':>10} {'RSS MB':>7}  load")
    print(f"{args.tickers:>7} {args.days:>5} {args.workers:>7} {group!s:>7} {db:>8} {up:>9.1f} {tr:>9.1f} "
          f"{tr / args.tickers * 1000:>9.0f} {cpu / args.tickers * 1000:>13.0f} {cold * 1000:>10.0f} "
          f"{warm * 1000:>10.0f} {rss:>7.0f}  {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
