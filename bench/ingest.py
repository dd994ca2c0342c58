"""Upload speed: HTTP upload of MSFT.csv (7,983 rows) vs the same rows written straight through the driver.

The floor uses the statement the service runs (INSERT INTO price_point ... executemany) on a raw
DB-API connection, with no parsing, validation or HTTP. Goal: HTTP upload >= 0.5x the floor.

    .venv/bin/python bench/ingest.py [--repeat 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from _server import Server, data_path, postgres_database

COLUMNS = ("ticker_id", "date", "open", "high", "low", "close", "adj_close", "volume")


def read_rows(path: Path) -> list[tuple]:
    def num(x: str, kind=float):
        return kind(float(x)) if x else None

    with path.open() as f:
        return [(date.fromisoformat(r["date"]), num(r["open"]), num(r["high"]), num(r["low"]), num(r["close"]),
                 num(r["adj_close"]), num(r["volume"], int)) for r in csv.DictReader(f)]


def http_upload(url: str, body: bytes, repeat: int) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(repeat):
            client.delete("/series/BENCH")
            t = time.perf_counter()
            r = client.post("/series/BENCH", content=body, headers={"content-type": "text/csv"})
            times.append(time.perf_counter() - t)
            assert r.status_code == 200 and r.json()["rows_inserted"] > 0, r.text
    return times


def floor_sqlite(db: Path, rows: list[tuple], repeat: int) -> list[float]:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO price_point ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    times = []
    for i in range(repeat):
        tid = 10_000 + i
        conn.execute("INSERT INTO ticker (id, symbol, revision, created_at, updated_at) VALUES (?, ?, 0, '2026-01-01', '2026-01-01')",
                     (tid, f"FLOOR{i}"))
        conn.commit()
        params = [(tid, d.isoformat(), *rest) for d, *rest in rows]
        t = time.perf_counter()
        conn.executemany(sql, params)
        conn.commit()
        times.append(time.perf_counter() - t)
    conn.close()
    return times


def floor_postgres(url: str, rows: list[tuple], repeat: int) -> list[float]:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    times = []
    with psycopg.connect(conninfo) as conn:
        sql = f"INSERT INTO price_point ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        for i in range(repeat):
            with conn.cursor() as cur:
                cur.execute("INSERT INTO ticker (symbol, revision, created_at, updated_at) VALUES (%s, 0, now(), now()) RETURNING id",
                            (f"FLOOR{i}",))
                tid = cur.fetchone()[0]
            conn.commit()
            params = [(tid, *r) for r in rows]
            t = time.perf_counter()
            with conn.cursor() as cur:
                cur.executemany(sql, params)
            conn.commit()
            times.append(time.perf_counter() - t)
    return times


def report(name: str, n: int, http: list[float], floor: list[float]) -> None:
    h, f = statistics.median(http), statistics.median(floor)
    print(f"{name:9s} http upload {n / h:10,.0f} rows/s ({h * 1000:7.1f} ms)   "
          f"driver floor {n / f:10,.0f} rows/s ({f * 1000:7.1f} ms)   ratio {f / h:.2f}x (goal >= 0.50x)   "
          f"http slowest {max(http) * 1000:.0f} ms")


def breakdown(folder: Path, body: bytes, repeat: int) -> None:
    """Where an upload's time goes, in-process on SQLite: parse + validate, store, commit."""
    from service import migrate
    from service.db import make_engine, make_sessionmaker
    from service.series import store_prices
    from service.settings import Settings
    from service.uploads import parse_csv

    settings = Settings(data_dir=folder)
    migrate.upgrade(settings)
    engine = make_engine(settings.db_url)
    parse, store, commit = [], [], []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        upload = parse_csv(body, max_rows=10**6)[""]
        t1 = time.perf_counter()
        with make_sessionmaker(engine)() as session:
            store_prices(session, symbol=f"T{i}", upload=upload)
            t2 = time.perf_counter()
            session.commit()
            t3 = time.perf_counter()
        if i:  # the first round warms imports and caches
            parse.append(t1 - t0)
            store.append(t2 - t1)
            commit.append(t3 - t2)
    engine.dispose()
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"in-process (SQLite): parse+validate {ms(parse):.1f} ms, store_prices {ms(store):.1f} ms, "
          f"commit {ms(commit):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="admin URL; a throwaway database is created on it ('' to skip)")
    args = parser.parse_args()
    path = data_path("MSFT.csv")
    body, rows = path.read_bytes(), read_rows(path)
    print(f"{path.name}: {len(rows)} rows, {len(body):,} bytes; median of {args.repeat} runs each")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Server(tmp / "sqlite.log", data_dir=str(tmp / "var")) as server:
            http = http_upload(server.url, body, args.repeat)
        report("sqlite", len(rows), http, floor_sqlite(tmp / "var" / "pricecast.db", rows, args.repeat))
        breakdown(tmp / "breakdown", body, args.repeat)
        with postgres_database(args.postgres) as url:
            if url:
                with Server(tmp / "pg.log", database_url=url) as server:
                    http = http_upload(server.url, body, args.repeat)
                report("postgres", len(rows), http, floor_postgres(url, rows, args.repeat))


if __name__ == "__main__":
    main()
