"""Market time: a calendar and a frequency per ticker; every price, model range and served forecast in epoch seconds.

price_point.date (a date) becomes price_point.ts (epoch seconds UTC: the date's midnight for a
daily price, the opening time of an intraday bar); model_version.data_start/data_end become
data_start_ts/data_end_ts and forecast_record.as_of/target_date become as_of_ts/target_ts the same
way. Every existing row is kept and converted; existing tickers get calendar XNYS and frequency 1d.
The downgrade converts daily data back and refuses while intraday series exist (a date cannot
hold a bar's time): delete them first.

Revision ID: 0005_market_time
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_market_time"
down_revision = "0004"
branch_labels = None
depends_on = None

# (table, old date column, new epoch column)
_RENAMES = [("model_version", "data_start", "data_start_ts"), ("model_version", "data_end", "data_end_ts")]
_PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _to_epoch(column: str) -> str:
    if _sqlite():
        return f"CAST(strftime('%s', {column}) AS INTEGER)"
    return f"(({column} - DATE '1970-01-01')::bigint * 86400)"


def _to_date(column: str) -> str:
    if _sqlite():
        return f"date({column}, 'unixepoch')"
    return f"(DATE '1970-01-01' + ({column} / 86400)::int)"


def _price_table(name: str, key: str, key_type: sa.types.TypeEngine) -> None:
    op.create_table(
        name,
        sa.Column("ticker_id", sa.Integer(), nullable=False),
        sa.Column(key, key_type, nullable=False),
        sa.Column("open", sa.Double(), nullable=True),
        sa.Column("high", sa.Double(), nullable=True),
        sa.Column("low", sa.Double(), nullable=True),
        sa.Column("close", sa.Double(), nullable=False),
        sa.Column("adj_close", sa.Double(), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name="fk_price_point_ticker_id_ticker", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticker_id", key, name="pk_price_point"),
    )


def _forecast_table(name: str, as_of: str, target: str, key_type: sa.types.TypeEngine) -> None:
    import service.db

    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticker_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("price_field", sa.String(length=16), nullable=False),
        sa.Column(as_of, key_type, nullable=False),
        sa.Column("last_price", sa.Double(), nullable=False),
        sa.Column("predicted_price", sa.Double(), nullable=False),
        sa.Column("prob_up", sa.Double(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("served_at", service.db.UTCDateTime(), nullable=False),
        sa.Column(target, key_type, nullable=True),
        sa.Column("actual_price", sa.Double(), nullable=True),
        sa.Column("resolved_at", service.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name="fk_forecast_record_ticker_id_ticker",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_forecast_record"),
        sa.UniqueConstraint("ticker_id", "version", as_of, name="uq_forecast_record_ticker_id"),
    )


_FORECAST_COLUMNS = ("id", "ticker_id", "version", "price_field", "{as_of}", "last_price", "predicted_price", "prob_up",
                     "intervals", "served_at", "{target}", "actual_price", "resolved_at")


def _copy_sqlite(old: str, key_old: str, key_new: str, convert, *, forecast: bool) -> None:
    """SQLite cannot change a key column in place: copy into a new table (nothing references these two)."""
    new = f"_new_{old}"
    if forecast:
        a_old, t_old = key_old
        a_new, t_new = key_new
        _forecast_table(new, a_new, t_new, sa.BigInteger() if a_new.endswith("_ts") else sa.Date())
        cols = [c.format(as_of=a_old, target=t_old) for c in _FORECAST_COLUMNS]
        select = ", ".join(convert(c) if c in (a_old, t_old) else c for c in cols)
        names = ", ".join(c.format(as_of=a_new, target=t_new) for c in _FORECAST_COLUMNS)
        op.drop_index("ix_forecast_record_ticker_id", table_name=old)
    else:
        _price_table(new, key_new, sa.BigInteger() if key_new == "ts" else sa.Date())
        select = ", ".join(["ticker_id", convert(key_old), *_PRICE_COLUMNS])
        names = ", ".join(["ticker_id", key_new, *_PRICE_COLUMNS])
    op.execute(f"INSERT INTO {new} ({names}) SELECT {select} FROM {old}")
    op.drop_table(old)
    op.rename_table(new, old)
    if forecast:
        op.create_index("ix_forecast_record_ticker_id", old, ["ticker_id"], unique=False)


def upgrade() -> None:
    op.add_column("ticker", sa.Column("calendar", sa.String(length=16), server_default="XNYS", nullable=False))
    op.add_column("ticker", sa.Column("frequency", sa.String(length=8), server_default="1d", nullable=False))
    if _sqlite():
        _copy_sqlite("price_point", "date", "ts", _to_epoch, forecast=False)
        _copy_sqlite("forecast_record", ("as_of", "target_date"), ("as_of_ts", "target_ts"), _to_epoch, forecast=True)
        for table, old, new in _RENAMES:  # model_version is referenced by training_job: altered in place
            op.execute(f"ALTER TABLE {table} ADD COLUMN {new} BIGINT")
            op.execute(f"UPDATE {table} SET {new} = {_to_epoch(old)}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN {old}")
        return
    for table, old, new in [("price_point", "date", "ts"), ("forecast_record", "as_of", "as_of_ts"),
                            ("forecast_record", "target_date", "target_ts"), *_RENAMES]:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {old} TYPE bigint USING {_to_epoch(old)}")
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")


def downgrade() -> None:
    bind = op.get_bind()
    intraday = bind.execute(sa.text("SELECT symbol FROM ticker WHERE frequency <> '1d' ORDER BY symbol LIMIT 20")).scalars().all()
    if intraday:
        raise RuntimeError(f"cannot downgrade below 0005_market_time while intraday series exist ({', '.join(intraday)}): "
                           "a date column cannot hold a bar's time; delete those series first (DELETE /series/{ticker})")
    if _sqlite():
        _copy_sqlite("price_point", "ts", "date", _to_date, forecast=False)
        _copy_sqlite("forecast_record", ("as_of_ts", "target_ts"), ("as_of", "target_date"), _to_date, forecast=True)
        for table, old, new in _RENAMES:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {old} DATE")
            op.execute(f"UPDATE {table} SET {old} = {_to_date(new)}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN {new}")
    else:
        for table, old, new in [("price_point", "date", "ts"), ("forecast_record", "as_of", "as_of_ts"),
                                ("forecast_record", "target_date", "target_ts"), *_RENAMES]:
            op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {old}")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {old} TYPE date USING {_to_date(old)}")
    op.drop_column("ticker", "frequency")
    op.drop_column("ticker", "calendar")
