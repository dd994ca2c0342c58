"""Upload speed: HTTP upload of MSFT.csv (7,983 rows) vs the same rows written straight into the database.

Floors, on a raw DB-API connection to the same database, with no parsing, validation or HTTP, the
rows prepared before the clock starts:
  SQLite    the plain `INSERT INTO price_point ... executemany` (the goal's floor), and the same
            with the service's connection settings (foreign keys on)
  Postgres  a binary `COPY price_point FROM STDIN` (the goal's floor), and the executemany INSERT
Goal: HTTP upload >= 0.5x the floor. Each round runs one upload and one floor write back to back
(alternating, so load on a shared machine hits both alike); medians are reported.

    .venv/bin/python bench/ingest.py [--repeat 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import statistics
import struct
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from _server import Server, data_path, postgres_database

COLUMNS = ("ticker_id", "ts", "open", "high", "low", "close", "adj_close", "volume")


def read_rows(path: Path) -> list[tuple]:
    def num(x: str, kind=float):
        return kind(float(x)) if x else None

    with path.open() as f:
        return [(date.fromisoformat(r["date"]), num(r["open"]), num(r["high"]), num(r["low"]), num(r["close"]),
                 num(r["adj_close"]), num(r["volume"], int)) for r in csv.DictReader(f)]


class Uploader:
    def __init__(self, url: str, body: bytes) -> None:
        self.client = httpx.Client(base_url=url, timeout=120)
        self.body = body

    def __call__(self) -> float:
        self.client.delete("/series/BENCH")
        t = time.perf_counter()
        r = self.client.post("/series/BENCH", content=self.body, headers={"content-type": "text/csv"})
        elapsed = time.perf_counter() - t
        assert r.status_code == 200 and r.json()["rows_inserted"] > 0, r.text
        return elapsed


class SqliteFloor:
    def __init__(self, db: Path, rows: list[tuple], *, foreign_keys: bool) -> None:
        self.conn = sqlite3.connect(db)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        self.rows, self.n = rows, 0
        self.sql = f"INSERT INTO price_point ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        self.tag = "FK" if foreign_keys else "FLOOR"

    def __call__(self) -> float:
        self.n += 1
        tid = self.conn.execute("INSERT INTO ticker (symbol, revision, created_at, updated_at) "
                                "VALUES (?, 0, '2026-01-01', '2026-01-01')", (f"{self.tag}{self.n}",)).lastrowid
        self.conn.commit()
        params = [(tid, epoch_seconds(d), *rest) for d, *rest in self.rows]
        t = time.perf_counter()
        self.conn.executemany(self.sql, params)
        self.conn.commit()
        return time.perf_counter() - t


def epoch_seconds(d: date) -> int:
    """How price_point.ts stores a daily row: its date's midnight UTC, in seconds since 1970."""
    return (d.toordinal() - date(1970, 1, 1).toordinal()) * 86400


def copy_payload(ticker_id: int, rows: list[tuple]) -> bytes:
    """PostgreSQL binary COPY data for the rows (NULL where a value is missing)."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    for d, *values in rows:
        out.append(struct.pack(">hiiiq", 8, 4, ticker_id, 8, epoch_seconds(d)))
        for i, v in enumerate(values):
            if v is None:
                out.append(struct.pack(">i", -1))
            else:
                out.append(struct.pack(">iq" if i == 5 else ">id", 8, v))
    out.append(struct.pack(">h", -1))
    return b"".join(out)


class PostgresFloor:
    def __init__(self, url: str, rows: list[tuple], *, copy: bool) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        self.rows, self.copy, self.n = rows, copy, 0

    def __call__(self) -> float:
        self.n += 1
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO ticker (symbol, revision, created_at, updated_at) VALUES (%s, 0, now(), now()) "
                        "RETURNING id", (f"{'COPY' if self.copy else 'MANY'}{self.n}",))
            tid = cur.fetchone()[0]
        self.conn.commit()
        if self.copy:
            payload = copy_payload(tid, self.rows)
            t = time.perf_counter()
            with self.conn.cursor() as cur, cur.copy(f"COPY price_point ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.write(payload)
        else:
            params = [(tid, epoch_seconds(d), *rest) for d, *rest in self.rows]
            sql = f"INSERT INTO price_point ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
            t = time.perf_counter()
            with self.conn.cursor() as cur:
                cur.executemany(sql, params)
        self.conn.commit()
        return time.perf_counter() - t


def rounds(repeat: int, **runs) -> dict[str, list[float]]:
    """Run each callable once per round, in turn; the first round warms caches and is dropped."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeat + 1):
        for name, run in runs.items():
            elapsed = run()
            if i:
                times[name].append(elapsed)
    return times


def line(name: str, n: int, times: list[float]) -> str:
    m = statistics.median(times)
    return f"{name:26s} {n / m:10,.0f} rows/s ({m * 1000:7.1f} ms, slowest {max(times) * 1000:6.1f} ms)"


def report(backend: str, n: int, times: dict[str, list[float]], floor: str) -> None:
    print(f"{backend}:")
    for name, t in times.items():
        print("  " + line(name, n, t))
    http, goal = statistics.median(times["http upload"]), statistics.median(times[floor])
    others = ", ".join(f"{goal_name}: {statistics.median(t) / http:.2f}x" for goal_name, t in times.items()
                       if goal_name not in ("http upload", floor))
    print(f"  ratio vs {floor}: {goal / http:.2f}x (goal >= 0.50x)" + (f"   [vs {others}]" if others else ""))


def breakdown(settings_kwargs: dict, body: bytes, repeat: int, label: str) -> None:
    """Where an upload's time goes, in-process: parse + validate, store_uploads, commit."""
    from service import migrate
    from service.db import make_engine, make_sessionmaker
    from service.settings import Settings
    from service.store import store_uploads
    from service.uploads import parse_csv

    settings = Settings(**settings_kwargs)
    migrate.upgrade(settings)
    engine = make_engine(settings.db_url)
    parse, store, commit = [], [], []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        upload = parse_csv(body, max_rows=10**6)[""]
        t1 = time.perf_counter()
        with make_sessionmaker(engine)() as session:
            store_uploads(session, uploads={f"T{i}": upload}, mode="merge")
            t2 = time.perf_counter()
            session.commit()
            t3 = time.perf_counter()
        if i:  # the first round warms imports and caches
            parse.append(t1 - t0)
            store.append(t2 - t1)
            commit.append(t3 - t2)
    engine.dispose()
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"  in-process ({label}): parse+validate {ms(parse):.1f} ms, store_uploads {ms(store):.1f} ms, "
          f"commit {ms(commit):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="admin URL; a throwaway database is created on it ('' to skip)")
    args = parser.parse_args()
    path = data_path("MSFT.csv")
    body, rows = path.read_bytes(), read_rows(path)
    n = len(rows)
    print(f"{path.name}: {n} rows, {len(body):,} bytes; median of {args.repeat} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Server(tmp / "sqlite.log", data_dir=str(tmp / "var")) as server:
            db = tmp / "var" / "pricecast.db"
            times = rounds(args.repeat, **{"http upload": Uploader(server.url, body),
                                           "executemany floor": SqliteFloor(db, rows, foreign_keys=False),
                                           "executemany, foreign keys": SqliteFloor(db, rows, foreign_keys=True)})
        report("sqlite", n, times, "executemany floor")
        breakdown({"data_dir": tmp / "breakdown"}, body, args.repeat, "SQLite")
        with postgres_database(args.postgres) as url:
            if url:
                with Server(tmp / "pg.log", database_url=url) as server:
                    times = rounds(args.repeat, **{"http upload": Uploader(server.url, body),
                                                   "COPY floor": PostgresFloor(url, rows, copy=True),
                                                   "executemany": PostgresFloor(url, rows, copy=False)})
                report("postgres", n, times, "COPY floor")
                breakdown({"database_url": url}, body, args.repeat, "Postgres")


if __name__ == "__main__":
    main()
