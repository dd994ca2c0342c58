"""Run Alembic migrations from code and tell whether a database's schema is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from service.db import make_engine
from service.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Upgrade the configured database to `revision` (head by default)."""
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    """Downgrade the configured database to `revision`."""
    command.downgrade(alembic_config(settings), revision)


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_status(settings: Settings, engine: Engine) -> tuple[str | None, str | None]:
    """Return (current, head) revisions."""
    return current_revision(engine), head_revision(settings)


class SchemaBehind(RuntimeError):
    """The database schema is not at the migrations' head."""


def ensure_schema(settings: Settings) -> None:
    """Migrate the embedded SQLite file; refuse any other database whose schema is behind head.

    The one bootstrap check shared by `serve`, the worker and every CLI command.
    """
    if settings.is_embedded:
        upgrade(settings)
        return
    engine = make_engine(settings.db_url)
    try:
        current, head = schema_status(settings, engine)
    finally:
        engine.dispose()
    if current != head:
        raise SchemaBehind(f"database schema is at {current or 'nothing'}, code expects {head}: run `pricecast migrate`")
