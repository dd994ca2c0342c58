"""Served forecasts, for live accuracy.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticker_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("price_field", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("last_price", sa.Double(), nullable=False),
        sa.Column("predicted_price", sa.Double(), nullable=False),
        sa.Column("prob_up", sa.Double(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("served_at", service.db.UTCDateTime(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("actual_price", sa.Double(), nullable=True),
        sa.Column("resolved_at", service.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name=op.f("fk_forecast_record_ticker_id_ticker"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_record")),
        sa.UniqueConstraint("ticker_id", "version", "as_of", name=op.f("uq_forecast_record_ticker_id")),
    )
    op.create_index(op.f("ix_forecast_record_ticker_id"), "forecast_record", ["ticker_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_forecast_record_ticker_id"), table_name="forecast_record")
    op.drop_table("forecast_record")
