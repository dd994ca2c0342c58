"""Concurrent training requests on Postgres, against real server processes (issue 13, rows 11 and 12).

- Bulk requests that name the same 50 tickers in opposite orders never deadlock: every one is
  answered 202 (before: two of four were 500 "deadlock detected").
- PRICECAST_MAX_QUEUED_JOBS holds across API processes: 50 concurrent single-ticker requests
  split over two servers queue exactly the cap (before: 15 queued with a cap of 10).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from service.db import make_engine, make_sessionmaker
from tests.e2e.server import ServerProcess
from tests.factories import make_series

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]
TICKERS = [f"T{i:02d}" for i in range(50)]
OPEN = {"rate_limit": "off", "train_rate_limit": "off", "embedded_worker": "false"}


def _store_tickers(url: str) -> None:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        for i, symbol in enumerate(TICKERS):
            make_series(s, symbol=symbol, n=100, seed=i)
    engine.dispose()


def _queued(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM training_job WHERE status = 'queued'")).scalar_one()
    engine.dispose()
    return n


def _cancel_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE training_job SET status = 'cancelled' WHERE status = 'queued'"))
    engine.dispose()


def test_bulk_train_requests_in_opposite_orders_never_deadlock(tmp_path, fresh_postgres_url, redis_url):
    _store_tickers(fresh_postgres_url)
    common = {"database_url": fresh_postgres_url, "queue_url": redis_url, "data_dir": str(tmp_path / "var"), **OPEN}
    orders = [TICKERS, TICKERS[::-1], TICKERS, TICKERS[::-1]]
    with ServerProcess(tmp_path / "api.log", **common) as server:

        def one(order: list[str]) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                return client.post("/train", json={"tickers": order, "params": {"epochs": 2}})

        for _ in range(3):
            with ThreadPoolExecutor(len(orders)) as pool:
                answers = list(pool.map(one, orders))
            assert [r.status_code for r in answers] == [202] * len(orders), [r.text[:300] for r in answers]
            assert all(len(r.json()["jobs"]) == len(TICKERS) and r.json()["errors"] == [] for r in answers)
            assert _queued(fresh_postgres_url) == len(TICKERS)
            _cancel_all(fresh_postgres_url)
        assert "deadlock" not in server.log()


def test_the_queue_cap_holds_across_two_api_processes(tmp_path, fresh_postgres_url, redis_url):
    _store_tickers(fresh_postgres_url)
    common = {"database_url": fresh_postgres_url, "queue_url": redis_url, "data_dir": str(tmp_path / "var"),
              "max_queued_jobs": "10", **OPEN}
    with ServerProcess(tmp_path / "api1.log", **common) as a, ServerProcess(tmp_path / "api2.log", **common) as b:
        urls = [a.url, b.url]

        def one(i: int) -> int:
            with httpx.Client(base_url=urls[i % 2], timeout=60) as client:
                return client.post(f"/series/{TICKERS[i]}/train", json={"epochs": 2}).status_code

        assert [one(i) for i in range(9)] == [202] * 9  # one place left: every request below wants it
        with ThreadPoolExecutor(len(TICKERS) - 9) as pool:
            codes = list(pool.map(one, range(9, len(TICKERS))))
    assert sorted(set(codes)) == [202, 429], codes
    assert codes.count(202) == 1 and _queued(fresh_postgres_url) == 10, codes
