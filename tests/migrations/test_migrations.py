"""Migrations: upgrade, downgrade to base, upgrade again, and no drift from the tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from service import migrate
from service.db import Base, make_engine


def test_upgrade_downgrade_upgrade_and_no_drift(settings):
    engine = make_engine(settings.db_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision(settings)
        migrate.downgrade(settings, "base")
        assert migrate.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(settings)
        assert migrate.current_revision(engine) == migrate.head_revision(settings)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
