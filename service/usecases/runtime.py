"""What every use case needs, built once per process: settings, sessions, the job queue and caches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db import make_engine, make_sessionmaker, session_scope
from service.forecasting.caches import Caches
from service.jobs import JobQueue
from service.migrate import ensure_schema
from service.settings import Settings


@dataclass
class Runtime:
    """The process's database, queue and caches. The app, each worker process and each CLI command hold one."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    queue: JobQueue
    caches: Caches

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """The transaction of one user action: committed at the end, rolled back on any error."""
        with session_scope(self.sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; nothing it did is kept."""
        with self.sessions() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """The runtime for these settings; nothing is checked (the app checks its schema at start)."""
    engine = make_engine(settings.db_url)
    return Runtime(settings, engine, make_sessionmaker(engine), JobQueue(settings), Caches(settings))


def open_runtime(settings: Settings) -> Runtime:
    """The bootstrap of the CLI and the workers: the schema checked (the embedded file migrated), then the runtime."""
    ensure_schema(settings)
    return build_runtime(settings)
