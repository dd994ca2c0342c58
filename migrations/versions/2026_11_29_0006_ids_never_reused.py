"""Ids are never reused on SQLite: ticker, training_job, model_version, forecast_record and api_key
become AUTOINCREMENT tables.

SQLite hands out max(id) + 1, so deleting the newest ticker and uploading another gave the new
series the old id, and a job or model of the old series could attach to it. AUTOINCREMENT keeps
the largest id ever used (sqlite_sequence). SQLite sets it only when a table is created, so each
table is rebuilt with its rows, indexes and constraints (Alembic's batch "recreate"); env.py turns
foreign keys off around SQLite migrations so that dropping the old table cascades to nothing.
Postgres sequences never go back: nothing to do there.

Revision ID: 0006_ids_never_reused
Revises: 0005_market_time
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0006_ids_never_reused"
down_revision = "0005_market_time"
branch_labels = None
depends_on = None

TABLES = ("ticker", "training_job", "model_version", "forecast_record", "api_key")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
