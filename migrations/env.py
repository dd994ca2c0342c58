"""Alembic environment: the URL comes from pricecast's Settings, never from alembic.ini."""

from __future__ import annotations

from alembic import context

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
            context.configure(connection=conn, **_configure_kwargs(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
