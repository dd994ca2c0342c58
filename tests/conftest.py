"""Shared fixtures: database settings parametrized over SQLite and Postgres, built from migrations.

Postgres comes from PRICECAST_TEST_POSTGRES_URL (an admin URL; each test run creates and drops
its own database). Without it the Postgres cases skip with a reason, except in CI (CI=true),
where a missing Postgres is an error: a Postgres test must never silently skip there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service import migrate
from service.db import Base, make_engine, make_sessionmaker
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLE_DATA = ROOT / "examples" / "data"
TEST_DATA = ROOT / "tests" / "data"
PG_ADMIN_URL = os.environ.get("PRICECAST_TEST_POSTGRES_URL")


def data_file(name: str) -> Path:
    """A real series: ../shared/data when present, else the copies in examples/data and tests/data."""
    for folder in (SHARED_DATA, EXAMPLE_DATA, TEST_DATA):
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"{name} not found in {SHARED_DATA} or {EXAMPLE_DATA}")


@contextmanager
def _database(prefix: str) -> Iterator[str]:
    """Create a migrated database on the test server; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(Settings(database_url=url))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated Postgres database for this test run, dropped at the end."""
    if not PG_ADMIN_URL:
        if os.environ.get("CI"):
            pytest.fail("CI=true but PRICECAST_TEST_POSTGRES_URL is not set: Postgres tests must run in CI")
        pytest.skip("PRICECAST_TEST_POSTGRES_URL not set (scripts/test sets it)")
    with _database("pricecast_test") as url:
        yield url


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a migrated, empty database: a SQLite file, or this run's Postgres database."""
    data_dir = tmp_path / "var"
    if request.param == "sqlite":
        s = Settings(data_dir=data_dir, database_url=f"sqlite:///{tmp_path / 'test.db'}")
        migrate.upgrade(s)
        yield s
        return
    url = request.getfixturevalue("postgres_url")
    yield Settings(data_dir=data_dir, database_url=url)
    _truncate_all(url)


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A database of its own for one test (end-to-end tests share it with server processes)."""
    with _database("pricecast_e2e") as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """An empty Redis database for the job queue (PRICECAST_TEST_REDIS_URL)."""
    url = os.environ.get("PRICECAST_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI=true but PRICECAST_TEST_REDIS_URL is not set: distributed tests must run in CI")
        pytest.skip("PRICECAST_TEST_REDIS_URL not set (scripts/test sets it)")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url
