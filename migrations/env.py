"""Alembic environment: the URL comes from pricecast's Settings, never from alembic.ini."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection

import service.tables  # noqa: F401  (registers every table on Base.metadata)
from service.db import Base, make_engine
from service.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    settings = config.attributes.get("settings") or load_settings()
    return settings.db_url


def _configure_kwargs(url: str) -> dict:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": url.startswith("sqlite"),
    }


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, literal_binds=True, **_configure_kwargs(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_configure_kwargs(str(connection.engine.url)))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _url()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            with _sqlite_foreign_keys_off(conn):
                context.configure(connection=conn, **_configure_kwargs(url))
                with context.begin_transaction():
                    context.run_migrations()
    finally:
        engine.dispose()


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off while migrating: rebuilding a table drops the old one, and with
    them on that drop deletes (cascades to) every row that references it. Checked after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection  # the driver's own: a PRAGMA inside a transaction is ignored
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows whose references are missing: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
