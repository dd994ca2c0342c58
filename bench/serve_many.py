"""Serving the whole universe: batch forecasts over 1,000 tickers and the server's memory with N models loaded.

Training N real models would take hours, so this trains ONE model (default architecture,
window 30, hidden 32) once and registers a copy of its checkpoint for each of N synthetic
tickers through the registry (service.registry.register_model, the database checkpoint store):
every ticker has its own model version and its own checkpoint row, exactly what serving reads.
Then it starts the real server (`pricecast serve`, cache warming off so the first call is
cold) and measures, against the same server:

- cold: POST /forecast for 1,000 tickers whose models are not loaded (checkpoints read in one
  query, verified, built, then one stacked forward per architecture);
- models warm: the same tickers with other interval levels (models cached, answers not);
- warm: the same request again (the answer cache);
- the server's RSS idle, and after forecasting all N tickers (every model loaded).

    .venv/bin/python bench/serve_many.py [--tickers 10000] [--batch 1000] [--days 160]
                                         [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _server import Server, postgres_database, synthetic_csv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(settings, n: int, days: int) -> float:
    """Store N tickers' prices and register a copy of one trained model for each; return the seconds taken."""
    from models import checkpoints
    from models.lstm import LSTMConfig
    from models.train import train
    from service.pricearrays import load_price_array
    from service.registry import DB_PREFIX, register_model
    from service.series import get_ticker
    from service.usecases import ingest
    from service.usecases.runtime import open_runtime

    started = time.perf_counter()
    rt = open_runtime(settings)
    symbols = [f"S{i:05d}" for i in range(n)]
    per_upload = max(1, settings.max_upload_rows // days)
    for k in range(0, n, per_upload):
        ingest.upload_many(rt, body=synthetic_csv(symbols[k:k + per_upload], days).encode())
    rng = np.random.default_rng(1)
    result = train(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 600))), LSTMConfig(epochs=3), seed=1)
    data = checkpoints.to_bytes(result)
    sha = checkpoints.sha256(data)
    for k in range(0, n, 500):
        with rt.unit_of_work() as session:
            for symbol in symbols[k:k + 500]:
                ticker = get_ticker(session, symbol=symbol)
                register_model(session, settings=settings, ticker=ticker, result=result,
                               checkpoint_path=f"{DB_PREFIX}bench/{ticker.id}", checkpoint_sha256=sha, job_id=None,
                               data=load_price_array(session, ticker_id=ticker.id), data_revision=ticker.revision,
                               checkpoint_data=data)
    rt.close()
    print(f"stored {n} tickers x {days} days and registered {n} copies of one {len(data):,}-byte checkpoint "
          f"in {time.perf_counter() - started:.1f} s (one model trained, not {n})", flush=True)
    return time.perf_counter() - started


def cpu_s(pid: int) -> float:
    """The process's CPU seconds (user + system): steadier than wall time on a shared host."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU_MS: list[float] = []  # the server's CPU milliseconds of each post(), in order


def post(client: httpx.Client, tickers: list[str], levels: list[int], pid: int) -> float:
    before = cpu_s(pid)
    t = time.perf_counter()
    r = client.post("/forecast", json={"tickers": tickers, "levels": levels})
    ms = (time.perf_counter() - t) * 1000
    CPU_MS.append((cpu_s(pid) - before) * 1000)
    body = r.json()
    if r.status_code != 200 or body["errors"] or len(body["forecasts"]) != len(tickers):
        raise SystemExit(f"forecast failed: {r.status_code} {str(body)[:300]}")
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--days", type=int, default=160, help="prices per ticker (a forecast reads the last 151)")
    ap.add_argument("--database", default=None, help="a Postgres admin URL (default: the embedded SQLite file)")
    args = ap.parse_args()

    from service import migrate
    from service.settings import Settings

    with tempfile.TemporaryDirectory(prefix="pricecast-serve-many-") as tmp, postgres_database(args.database) as url:
        data_dir = Path(tmp) / "var"
        settings = Settings(data_dir=data_dir, database_url=url, max_upload_tickers=10_000)
        migrate.upgrade(settings)
        build(settings, args.tickers + 1, args.days)  # one more: the server's first request reads it
        symbols = [f"S{i:05d}" for i in range(args.tickers)]
        batch = symbols[:args.batch]
        env = {"data_dir": str(data_dir), "warm_models": "false", "embedded_worker": "false"}
        if url:
            env["database_url"] = url
        with Server(Path(tmp) / "server.log", **env) as server, httpx.Client(base_url=server.url, timeout=120) as c:
            time.sleep(1.0)
            pid = server.proc.pid
            # The process's first forecast pays one-time costs (the calendar, statement caches):
            # pay them with a ticker outside the measured ones, so `cold` is what a batch of
            # models not loaded yet costs on a running server.
            post(c, [f"S{args.tickers:05d}"], [80, 95], pid)
            idle = rss_mb(pid)
            cold = post(c, batch, [80, 95], pid)
            cold_cpu = CPU_MS[-1]
            models_warm = [post(c, batch, [level], pid) for level in (50, 60, 70, 90, 99)]
            models_warm_cpu = statistics.median(CPU_MS[-5:])
            warm = [post(c, batch, [80, 95], pid) for _ in range(10)]
            warm_cpu = statistics.median(CPU_MS[-10:])
            spread = [post(c, symbols[k:k + args.batch], [80, 95], pid)
                      for k in range(args.batch, args.tickers, args.batch)]
            spread_cpu = CPU_MS[len(CPU_MS) - len(spread):]
            loaded = rss_mb(pid)
            again = [post(c, symbols[k:k + args.batch], [80, 95], pid) for k in range(0, args.tickers, args.batch)]
            after_all = rss_mb(pid)
        load = os.getloadavg()[0]
        database = "postgres" if url else "sqlite"
        print(f"\nserve_many: {args.tickers} tickers, batches of {args.batch}, {database}, "
              f"default model architecture (window 30, hidden 32); load average {load:.1f} on {os.cpu_count()} cores")
        print(f"{'measure':58s} {'value':>12s}")
        rows = [
            (f"POST /forecast {args.batch} tickers, cold (models not loaded)", f"{cold:.0f} ms"),
            ("  server CPU time of that request", f"{cold_cpu:.0f} ms"),
            (f"POST /forecast {args.batch} tickers, models loaded, answers not (median)",
             f"{statistics.median(models_warm):.0f} ms"),
            ("  server CPU time of those requests (median)", f"{models_warm_cpu:.0f} ms"),
            (f"POST /forecast {args.batch} tickers, warm (answer cache, median)", f"{statistics.median(warm):.1f} ms"),
            ("  server CPU time of those requests (median)", f"{warm_cpu:.0f} ms"),
            ("  per ticker: cold / models loaded / warm",
             f"{cold / args.batch:.2f} / {statistics.median(models_warm) / args.batch:.3f} / "
             f"{statistics.median(warm) / args.batch:.4f} ms"),
            (f"cold batches over the other {args.tickers - args.batch} tickers (median)",
             f"{statistics.median(spread):.0f} ms" if spread else "-"),
            ("  server CPU time of those requests (median)",
             f"{statistics.median(spread_cpu):.0f} ms" if spread else "-"),
            ("server RSS before the batches (one model loaded)", f"{idle:.0f} MB"),
            (f"server RSS with all {args.tickers} models loaded", f"{loaded:.0f} MB"),
            (f"server RSS after answering all {args.tickers} again", f"{after_all:.0f} MB"),
            (f"repeat of all {args.tickers}, per batch (median)",
             f"{statistics.median(again):.1f} ms"),
        ]
        for name, value in rows:
            print(f"{name:58s} {value:>12s}")


if __name__ == "__main__":
    main()
