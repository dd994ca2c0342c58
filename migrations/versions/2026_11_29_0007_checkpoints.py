"""Checkpoints in the database: model_checkpoint holds each version's safetensors bytes and sha256.

With PRICECAST_CHECKPOINT_STORE=database (the default) the upgrade copies every checkpoint file
it can read into the table, one version at a time, and marks the version's checkpoint_path
"db:<old path>". The files themselves are left where they were (a migration that fails half way
then loses nothing); once it has committed, PRICECAST_DATA_DIR/checkpoints can be deleted. A
file that is missing stays a file reference, and the first forecast that needs it marks the
version broken, as before. Bytes whose sha256 differs from the registry's are copied as they are,
so that check still fails and marks the version broken. The downgrade writes every stored
checkpoint back to a file named from the version id under the data directory.

Revision ID: 0007_checkpoints
Revises: 0005_market_time
Create Date: 2026-11-29
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

revision = "0007_checkpoints"
down_revision = "0006_ids_never_reused"
branch_labels = None
depends_on = None

DB_PREFIX = "db:"  # service/registry.py: a checkpoint_path that names a database row, not a file

_versions = sa.table("model_version", sa.column("id", sa.Integer), sa.column("checkpoint_path", sa.String))
_checkpoints = sa.table("model_checkpoint", sa.column("model_version_id", sa.Integer), sa.column("sha256", sa.String),
                        sa.column("size", sa.Integer), sa.column("data", sa.LargeBinary))


def _settings():
    from service.settings import load_settings

    return context.config.attributes.get("settings") or load_settings()


def upgrade() -> None:
    op.create_table(
        "model_checkpoint",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_version.id"],
                                name="fk_model_checkpoint_model_version_id_model_version", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_version_id", name="pk_model_checkpoint"),
    )
    settings = _settings()
    if settings.checkpoint_store != "database":
        return
    bind = op.get_bind()
    rows = bind.execute(sa.select(_versions.c.id, _versions.c.checkpoint_path)
                        .where(sa.not_(_versions.c.checkpoint_path.startswith(DB_PREFIX)))
                        .order_by(_versions.c.id)).all()
    root = Path(settings.data_dir).resolve()
    for version_id, stored in rows:
        path = (root / stored).resolve()
        if not path.is_relative_to(root):  # only files under the data directory are ours to read
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        bind.execute(_checkpoints.insert().values(model_version_id=version_id, sha256=hashlib.sha256(data).hexdigest(),
                                                  size=len(data), data=data))
        bind.execute(_versions.update().where(_versions.c.id == version_id)
                     .values(checkpoint_path=DB_PREFIX + stored))


def downgrade() -> None:
    bind = op.get_bind()
    folder = Path(_settings().data_dir) / "checkpoints"
    ids = bind.execute(sa.select(_checkpoints.c.model_version_id)
                       .order_by(_checkpoints.c.model_version_id)).scalars().all()
    if ids:
        folder.mkdir(parents=True, exist_ok=True)
    for version_id in ids:
        data = bind.execute(sa.select(_checkpoints.c.data)
                            .where(_checkpoints.c.model_version_id == version_id)).scalar_one()
        name = f"checkpoints/m{version_id}.safetensors"  # ids only: nothing stored becomes a path
        _write(folder.parent / name, data)
        bind.execute(_versions.update().where(_versions.c.id == version_id).values(checkpoint_path=name))
    op.drop_table("model_checkpoint")


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
