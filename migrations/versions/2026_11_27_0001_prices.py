"""Tickers and daily price points.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", service.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", service.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticker")),
        sa.UniqueConstraint("symbol", name=op.f("uq_ticker_symbol")),
    )
    op.create_table(
        "price_point",
        sa.Column("ticker_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("open", sa.Double(), nullable=True),
        sa.Column("high", sa.Double(), nullable=True),
        sa.Column("low", sa.Double(), nullable=True),
        sa.Column("close", sa.Double(), nullable=False),
        sa.Column("adj_close", sa.Double(), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticker_id"], ["ticker.id"],
            name=op.f("fk_price_point_ticker_id_ticker"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticker_id", "date", name=op.f("pk_price_point")),
    )


def downgrade() -> None:
    op.drop_table("price_point")
    op.drop_table("ticker")
