"""Declarative base with a naming convention, the engine factory and session helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value!r}: naive datetime, expected UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, begins transactions (_sqlite_begin): the driver's own implicit
    # BEGIN comes only before the first write, too late to take the write lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# Sessions from make_sessionmaker are units of work that usually write. On SQLite a deferred
# transaction that reads and then writes cannot wait for the write lock: if another connection
# committed after its first read, the upgrade fails at once with "database is locked" whatever
# the busy timeout. So such sessions BEGIN IMMEDIATE: they queue for the write lock (up to the
# busy timeout) before their first statement. Readers gain nothing from that and would queue
# behind every writer, so an HTTP request with a safe method (GET, HEAD, OPTIONS) marks its
# sessions read-only (read_only_sessions); plain engine connections are always deferred.
UNIT_OF_WORK = "pricecast_unit_of_work"
_sessions_write: ContextVar[bool] = ContextVar("pricecast_sessions_write", default=True)


@contextmanager
def read_only_sessions() -> Iterator[None]:
    """Within this block (and threads started from it), sessions begin deferred on SQLite."""
    token = _sessions_write.set(False)
    try:
        yield
    finally:
        _sessions_write.reset(token)


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(UNIT_OF_WORK, False) and _sessions_write.get()
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, a busy timeout and explicit BEGINs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work: on SQLite they take the write lock when they begin (see above)."""
    return sessionmaker(bind=engine.execution_options(**{UNIT_OF_WORK: True}), expire_on_commit=False)


def unlink_after_commit(session: Session, paths: list[Path]) -> None:
    """Delete these files once the session's transaction commits (never if it rolls back)."""
    session.info.setdefault("unlink_after_commit", []).extend(paths)


@event.listens_for(Session, "after_commit")
def _unlink_files(session: Session) -> None:
    for path in session.info.pop("unlink_after_commit", []):
        Path(path).unlink(missing_ok=True)


@event.listens_for(Session, "after_soft_rollback")
def _forget_files(session: Session, _previous: Any) -> None:
    session.info.pop("unlink_after_commit", None)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for jobs and CLI commands: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
