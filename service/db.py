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
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# Sessions from make_sessionmaker are units of work that usually write. On SQLite a transaction
# that has read and then writes cannot wait for the write lock: if another connection committed
# after its first read, the write fails at once with "database is locked", whatever the busy
# timeout (the driver begins a transaction before the first write, and a savepoint begins one
# before a read, as bulk training's do). So these sessions BEGIN IMMEDIATE: they queue for the
# write lock (up to the busy timeout) before their first statement, and never fail that way.
# Readers would only queue behind every writer, so a request whose route needs no more than a
# read key, or uses a safe method, runs its sessions as readers (read_only_sessions): the
# driver's own behaviour, which reads outside a transaction and writes in a short one of their
# own (forecasts record what they served; a broken checkpoint is marked in a second session,
# which a reader holding the write lock would block). Plain engine connections are readers too.
UNIT_OF_WORK = "pricecast_unit_of_work"
_sessions_write: ContextVar[bool] = ContextVar("pricecast_sessions_write", default=True)


@contextmanager
def read_only_sessions() -> Iterator[None]:
    """Within this block (and the threads it starts), sessions do not take the write lock up front."""
    token = _sessions_write.set(False)
    try:
        yield
    finally:
        _sessions_write.reset(token)


def _sqlite_begin(conn: Connection) -> None:
    dbapi_conn = conn.connection.dbapi_connection
    if conn.get_execution_options().get(UNIT_OF_WORK, False) and _sessions_write.get():
        dbapi_conn.isolation_level = None  # the driver leaves transactions to us (nothing is open here)
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        dbapi_conn.isolation_level = ""  # the driver's default: BEGIN (deferred) before the first write


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, a busy timeout and write-lock-first units of work."""
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
