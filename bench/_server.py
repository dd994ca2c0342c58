"""Start `pricecast serve` (the command a user runs) as a child process for benchmarks."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = (ROOT / "examples" / "data", ROOT / "tests" / "data")  # shipped series; origin and licence in each README


def data_path(name: str) -> Path:
    for folder in DATA:
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"{name} not found in examples/data or tests/data")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, log: Path, *args: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRICECAST_")}
        env |= {"PRICECAST_PORT": str(self.port), "PRICECAST_LOG_LEVEL": "warning"}
        # Benchmarks measure speed from one client address: per-caller rate limits off unless asked.
        env.setdefault("PRICECAST_RATE_LIMIT", "off")
        env.setdefault("PRICECAST_TRAIN_RATE_LIMIT", "off")
        env |= {f"PRICECAST_{k.upper()}": v for k, v in settings.items()}
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "service", "serve", *args], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Server:
        for _ in range(600):
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: see {self._log.name}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._log.close()


def synthetic_csv(symbols: list[str], n_rows: int, start: str = "2015-01-01", seed: int = 0) -> str:
    """Long-format CSV of random-walk closes (seeded) for many tickers, for POST /series."""
    rng = np.random.default_rng(seed)
    days = np.busday_offset(start, np.arange(n_rows), roll="forward")
    lines = ["ticker,date,close"]
    for symbol in symbols:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.012, n_rows)))
        lines += [f"{symbol},{d},{c:.4f}" for d, c in zip(days, close, strict=True)]
    return "\n".join(lines) + "\n"


def wait_jobs(client: httpx.Client, timeout: float = 900) -> None:
    """Wait until no job is queued or running; stop if any failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get("/jobs", params={"limit": 500}).json()["jobs"]
        if all(j["status"] not in ("queued", "running") for j in jobs):
            failed = [j for j in jobs if j["status"] not in ("succeeded", "cancelled")]
            if failed:
                raise SystemExit(f"training failed: {failed[0]}")
            return
        time.sleep(0.5)
    raise SystemExit("training did not finish")


@contextmanager
def postgres_database(admin_url: str | None, prefix: str = "pricecast_bench") -> Iterator[str | None]:
    """A fresh, migrated database on the given server, dropped afterwards (None: use SQLite)."""
    if not admin_url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from service import migrate
    from service.settings import Settings

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(Settings(database_url=url))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
