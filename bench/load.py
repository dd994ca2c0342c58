"""Mixed load against the real server: merging uploads and forecasts from many concurrent clients.

Starts `pricecast serve` on 127.0.0.1 (a temporary SQLite file, or a temporary database on the
Postgres server given by --postgres), uploads SPX, MSFT, IBM and a few synthetic tickers, trains
them on the embedded worker, then runs --clients concurrent clients (asyncio on uvloop, one
keep-alive HTTP/1.1 connection each) for --duration seconds. Each request is a forecast of a random
ticker or, with probability --upload-share, a merge upload of 5-60 consecutive business days
to a random ticker: a window that overlaps stored rows (updates) and runs past the end of the
series (inserts), so concurrent uploads overlap each other.

At the end it prints requests/s, p50/p99 per kind and the counts by status, then checks that
no response was a 5xx and that no row was lost: each ticker's stored rows equal the union of
its initial and uploaded dates, and every value equals the last-writer-wins merge of the
successful uploads applied in revision order. Exits non-zero if either check fails.

    .venv/bin/python bench/load.py [--duration 60] [--clients 200] [--upload-share 0.2]
                                   [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from _server import Server, data_path, postgres_database, synthetic_csv, wait_jobs

try:  # installed with uvicorn[standard]
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

REAL = ("SPX", "MSFT", "IBM")
COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
HOST = "127.0.0.1"  # the load only ever goes to loopback


@dataclass
class Ticker:
    symbol: str
    dates: list[str]  # business days an upload may touch: the stored tail, then days past the end
    last_close: float
    initial: dict[str, dict] = field(default_factory=dict)  # date -> stored point before the load


@dataclass
class Upload:
    symbol: str
    rows: dict[str, tuple[float, float]]  # date -> (close, adj_close)
    revision: int
    changed: bool


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter = field(default_factory=Counter)  # transport errors (no HTTP answer)
    uploads: list[Upload] = field(default_factory=list)
    samples: dict[int, str] = field(default_factory=dict)  # first body seen per unexpected status




def stored_points(client: httpx.Client, symbol: str) -> dict[str, dict]:
    r = client.get(f"/series/{symbol}", params={"limit": 100_000})
    r.raise_for_status()
    points = r.json()["points"]
    out = {p.pop("date"): p for p in points}
    if len(out) != len(points):
        raise SystemExit(f"{symbol}: duplicate dates in the stored series")
    return out


def prepare(client: httpx.Client, synthetic: int, epochs: int) -> list[Ticker]:
    """Upload and train the tickers; return what the load needs to know about each."""
    for name in REAL:
        client.post(f"/series/{name}", content=data_path(f"{name}.csv").read_bytes(),
                    headers={"content-type": "text/csv"}).raise_for_status()
    symbols = [*REAL, *(f"LOAD{k}" for k in range(synthetic))]
    if synthetic:
        client.post("/series", content=synthetic_csv(symbols[len(REAL):], 600, "2020-01-01"),
                    headers={"content-type": "text/csv"}).raise_for_status()
    client.post("/train", json={"tickers": symbols, "params": {"epochs": epochs, "patience": epochs}}).raise_for_status()
    wait_jobs(client)
    tickers = []
    for symbol in symbols:
        initial = stored_points(client, symbol)
        days = sorted(initial)
        future = np.busday_offset(np.datetime64(days[-1]), np.arange(1, 251), roll="forward")
        tickers.append(Ticker(symbol, days[-250:] + [str(d) for d in future], initial[days[-1]]["close"], initial))
    return tickers


class Connection:
    """One keep-alive HTTP/1.1 connection to the server: a minimal client, so the load generator
    (one process, sharing the machine with the server) is not the bottleneck: httpx's async client
    spent about 3 ms of CPU per request here."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: {content_type}\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if "content-length" not in headers:
            raise RuntimeError(f"response without Content-Length: {lines[0]} {headers}")
        data = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection") == "close":
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def client_loop(port: int, tickers: list[Ticker], tally: Tally, stop: float, upload_share: float,
                      rng: random.Random) -> None:
    conn = Connection(port)
    while time.monotonic() < stop:
        ticker = rng.choice(tickers)
        if rng.random() < upload_share:
            kind = "upload"
            first = rng.randrange(len(ticker.dates) - 60)
            rows = {}
            for day in ticker.dates[first:first + rng.randint(5, 60)]:
                close = round(ticker.last_close * math.exp(rng.gauss(0, 0.02)), 4)
                rows[day] = (close, round(close * 0.98, 4))
            body = "date,close,adj_close\n" + "".join(f"{d},{c!r},{a!r}\n" for d, (c, a) in rows.items())
            args = ("POST", f"/series/{ticker.symbol}", body.encode(), "text/csv")
        else:
            kind = "forecast"
            args = ("POST", "/forecast", json.dumps({"ticker": ticker.symbol}).encode(), "application/json")
        started = time.perf_counter()
        try:
            status, data = await conn.request(*args)
        except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
            tally.errors[f"{kind}: {type(exc).__name__}: {exc}"[:200]] += 1
            await conn.close()
            continue
        tally.latencies[kind].append(time.perf_counter() - started)
        tally.statuses[kind][status] += 1
        if status != 200:
            tally.samples.setdefault(status, data[:300].decode(errors="replace"))
        elif kind == "upload":
            report = json.loads(data)
            tally.uploads.append(Upload(ticker.symbol, rows, report["revision"],
                                        bool(report["rows_inserted"] or report["rows_updated"])))
    await conn.close()


async def probe(port: int, tally: Tally, stop: float) -> None:
    """GET /healthz ten times a second, from one more connection: how long a liveness check waits under
    this load (the route is a plain `def`, so it queues for the same thread pool as uploads)."""
    conn = Connection(port)
    while time.monotonic() < stop:
        started = time.perf_counter()
        status, _ = await conn.request("GET", "/healthz", b"", "text/plain")
        tally.latencies["healthz probe"].append(time.perf_counter() - started)
        tally.statuses["healthz probe"][status] += 1
        await asyncio.sleep(0.1)
    await conn.close()


async def run_load(port: int, tickers: list[Ticker], clients: int, duration: float, upload_share: float,
                   seed: int) -> tuple[Tally, float]:
    tally = Tally()
    started = time.monotonic()
    await asyncio.gather(probe(port, tally, started + duration),
                         *(client_loop(port, tickers, tally, started + duration, upload_share,
                                       random.Random(seed * 1000 + i)) for i in range(clients)))
    return tally, time.monotonic() - started


def expected_series(ticker: Ticker, uploads: list[Upload]) -> dict[str, dict]:
    """The initial rows, then every successful upload in the order the server applied it."""
    expected = {day: dict(point) for day, point in ticker.initial.items()}
    # An upload that changed nothing reports the revision it saw, so it sorts after the one that made it.
    for upload in sorted((u for u in uploads if u.symbol == ticker.symbol), key=lambda u: (u.revision, not u.changed)):
        for day, (close, adj) in upload.rows.items():
            point = expected.setdefault(day, dict.fromkeys(COLUMNS))
            point["close"], point["adj_close"] = close, adj
    return expected


def check_rows(client: httpx.Client, tickers: list[Ticker], tally: Tally) -> list[str]:
    problems = []
    for ticker in tickers:
        mine = [u for u in tally.uploads if u.symbol == ticker.symbol]
        changed = sorted(u.revision for u in mine if u.changed)
        if len(changed) != len(set(changed)):
            problems.append(f"{ticker.symbol}: two changing uploads report the same revision")
        stored, expected = stored_points(client, ticker.symbol), expected_series(ticker, mine)
        lost, extra = set(expected) - set(stored), set(stored) - set(expected)
        wrong = [d for d in set(stored) & set(expected) if stored[d] != expected[d]]
        if lost or extra or wrong:
            problems.append(f"{ticker.symbol}: {len(lost)} rows lost, {len(extra)} unexpected, {len(wrong)} differ "
                            f"from last-writer-wins (e.g. {sorted(lost)[:2]} {sorted(extra)[:2]} {sorted(wrong)[:2]})")
    return problems


def ms(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) * 1000 if values else float("nan")


def report(tally: Tally, elapsed: float, args: argparse.Namespace, backend: str) -> None:
    total = len(tally.latencies["forecast"]) + len(tally.latencies["upload"])
    print(f"\nload: {args.clients} clients, {elapsed:.1f}s, {backend}, upload share {args.upload_share:g}")
    print(f"total: {total} answered requests, {total / elapsed:.0f} req/s, transport errors {sum(tally.errors.values())}")
    for kind in ("forecast", "upload", "healthz probe"):
        lat = tally.latencies[kind]
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses[kind].items()))
        print(f"{kind:13s} {len(lat):7d} requests {len(lat) / elapsed:7.0f} req/s   p50 {ms(lat, 0.5):7.1f} ms   "
              f"p99 {ms(lat, 0.99):7.1f} ms   max {ms(lat, 1):7.1f} ms   statuses {{{statuses}}}")
    rows = sum(len(u.rows) for u in tally.uploads)
    print(f"uploads stored: {len(tally.uploads)} ({rows} rows sent, "
          f"{sum(not u.changed for u in tally.uploads)} changed nothing)")
    for status, body in sorted(tally.samples.items()):
        print(f"first {status} body: {body}")
    for error, n in tally.errors.items():
        print(f"transport error {error}: {n}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def forecast_cache(client: httpx.Client) -> dict[str, float]:
    """Answer-cache hits and misses from GET /metrics (empty when the server has no metrics)."""
    r = client.get("/metrics")
    if r.status_code != 200:
        return {}
    out = {}
    for line in r.text.splitlines():
        if line.startswith("pricecast_forecasts_total{"):
            label, value = line.split("} ")
            out[label.split('cache="')[1].rstrip('"')] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument("--upload-share", type=float, default=0.2, help="fraction of requests that upload")
    parser.add_argument("--synthetic", type=int, default=5, help="synthetic tickers besides SPX, MSFT, IBM")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs per ticker before the load")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="run on a temporary database on this server")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres_database(args.postgres, "pricecast_load") as db_url:
        tmp = Path(tmp)
        # The per-caller rate limit would turn this single-address load into 429s: it is not what is measured.
        settings = {"data_dir": str(tmp / "var"), "host": HOST, "rate_limit": "off"}
        if db_url:
            settings["database_url"] = db_url
        backend = "Postgres" if db_url else "SQLite"
        with Server(tmp / "server.log", **settings) as server, httpx.Client(base_url=server.url, timeout=120) as c:
            assert server.url.startswith(f"http://{HOST}:")
            t0 = time.perf_counter()
            tickers = prepare(c, args.synthetic, args.epochs)
            print(f"setup: {len(tickers)} tickers uploaded and trained in {time.perf_counter() - t0:.1f}s ({backend})")
            runner = asyncio.run if uvloop is None else uvloop.run
            server_cpu, client_cpu = cpu_seconds(server.proc.pid), time.process_time()
            tally, elapsed = runner(run_load(server.port, tickers, args.clients, args.duration,
                                             args.upload_share, args.seed))
            client_cpu = time.process_time() - client_cpu
            server_cpu = cpu_seconds(server.proc.pid) - server_cpu if server_cpu is not None else float("nan")
            report(tally, elapsed, args, backend)
            answered = len(tally.latencies["forecast"]) + len(tally.latencies["upload"])
            print(f"CPU during the load: server process {server_cpu / elapsed:.0%} of a core "
                  f"({server_cpu / max(answered, 1) * 1000:.2f} ms per request), load generator "
                  f"{client_cpu / elapsed:.0%}; machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            cache = forecast_cache(c)
            if cache:
                print(f"forecast answers from the cache: {cache.get('hit', 0):.0f} hits, {cache.get('miss', 0):.0f} misses "
                      "(every upload moves its ticker's revision)")
            server_errors = {k: {s: n for s, n in v.items() if s >= 500} for k, v in tally.statuses.items()}
            server_errors = {k: v for k, v in server_errors.items() if v}
            problems = check_rows(c, tickers, tally)
        failures = []
        if server_errors:
            failures.append(f"5xx answers: {json.dumps(server_errors)}")
        if tally.errors:
            failures.append(f"requests without an answer: {dict(tally.errors)}")
        failures += problems
        if failures:
            print("server log tail:\n" + (tmp / "server.log").read_text(errors="replace")[-3000:])
            raise SystemExit("FAILED:\n  " + "\n  ".join(failures))
        print(f"check: no 5xx; on all {len(tickers)} tickers the stored rows are the initial rows plus every "
              "uploaded date, and every value is the last-writer-wins merge by revision: OK")


if __name__ == "__main__":
    main()
