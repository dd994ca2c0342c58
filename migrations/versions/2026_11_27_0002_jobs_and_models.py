"""Training jobs and the model registry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticker_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("checkpoint_path", sa.String(length=500), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("price_field", sa.String(length=16), nullable=False),
        sa.Column("data_start", sa.Date(), nullable=True),
        sa.Column("data_end", sa.Date(), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("data_revision", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("backtest", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("promotion", sa.Text(), nullable=True),
        sa.Column("trained_at", service.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name=op.f("fk_model_version_ticker_id_ticker"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_version")),
        sa.UniqueConstraint("ticker_id", "version", name=op.f("uq_model_version_ticker_id")),
    )
    op.create_index(op.f("ix_model_version_ticker_id"), "model_version", ["ticker_id"], unique=False)
    op.create_table(
        "training_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticker_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("heartbeat_at", service.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", service.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", service.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", service.db.UTCDateTime(), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_version.id"],
                                name=op.f("fk_training_job_model_version_id_model_version"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name=op.f("fk_training_job_ticker_id_ticker"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_job")),
    )
    op.create_index(op.f("ix_training_job_status"), "training_job", ["status"], unique=False)
    op.create_index(op.f("ix_training_job_ticker_id"), "training_job", ["ticker_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_training_job_ticker_id"), table_name="training_job")
    op.drop_index(op.f("ix_training_job_status"), table_name="training_job")
    op.drop_table("training_job")
    op.drop_index(op.f("ix_model_version_ticker_id"), table_name="model_version")
    op.drop_table("model_version")
