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


def test_market_time_migration_keeps_every_daily_row_and_converts_back(settings):
    """From the schema before 0005 WITH data: prices, a model's range and served forecasts survive both ways."""
    from sqlalchemy import text

    engine = make_engine(settings.db_url)
    try:
        migrate.downgrade(settings, "0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO ticker (id, symbol, revision, created_at, updated_at) "
                              "VALUES (1, 'SPX', 3, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO price_point (ticker_id, date, close, adj_close, volume) VALUES "
                              "(1, '1700-01-01', 1.5, NULL, 7), (1, '2018-12-31', 2506.85, 2506.85, NULL), "
                              "(1, '2199-12-31', 3.0, NULL, NULL)"))
            conn.execute(text("INSERT INTO model_version (id, ticker_id, version, status, checkpoint_path, "
                              "checkpoint_sha256, config, price_field, data_start, data_end, n_rows, data_revision, "
                              "metrics, backtest, seed, trained_at) VALUES (1, 1, 1, 'active', 'c', 's', '{}', "
                              "'close', '1700-01-01', '2018-12-31', 2, 3, '{}', '[]', 0, '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO training_job (id, ticker_id, status, params, progress, history, attempts, "
                              "priority, cancel_requested, created_at, model_version_id) VALUES (1, 1, 'succeeded', "
                              "'{}', '{}', '[]', 1, 0, false, '2026-01-01 00:00:00', 1)"))
            conn.execute(text("INSERT INTO forecast_record (id, ticker_id, version, price_field, as_of, last_price, "
                              "predicted_price, prob_up, intervals, served_at, target_date, actual_price) VALUES "
                              "(1, 1, 1, 'close', '2018-12-31', 2506.85, 2506.85, 0.5, '[]', '2026-01-01 00:00:00', "
                              "'2199-12-31', 3.0)"))
        migrate.upgrade(settings)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT ts, close, adj_close, volume FROM price_point ORDER BY ts")).all()
            assert [tuple(r) for r in rows] == [(-8520336000, 1.5, None, 7), (1546214400, 2506.85, 2506.85, None),
                                                (7258032000, 3.0, None, None)]
            assert tuple(conn.execute(text("SELECT calendar, frequency, revision FROM ticker")).one()) == ("XNYS", "1d", 3)
            assert tuple(conn.execute(text("SELECT data_start_ts, data_end_ts FROM model_version")).one()) == \
                (-8520336000, 1546214400)
            assert tuple(conn.execute(text("SELECT as_of_ts, target_ts FROM forecast_record")).one()) == \
                (1546214400, 7258032000)
            assert conn.execute(text("SELECT model_version_id FROM training_job")).scalar_one() == 1  # not cascaded
        migrate.downgrade(settings, "0004")
        with engine.connect() as conn:
            days = [str(r[0])[:10] for r in conn.execute(text("SELECT date FROM price_point ORDER BY date"))]
            assert days == ["1700-01-01", "2018-12-31", "2199-12-31"]
            assert [str(v)[:10] for v in conn.execute(text("SELECT data_start, data_end FROM model_version")).one()] == \
                ["1700-01-01", "2018-12-31"]
            assert [str(v)[:10] for v in conn.execute(text("SELECT as_of, target_date FROM forecast_record")).one()] == \
                ["2018-12-31", "2199-12-31"]
        migrate.upgrade(settings)
        with engine.begin() as conn:
            conn.execute(text("UPDATE ticker SET frequency = '5m'"))
        try:
            migrate.downgrade(settings, "0004")
            raise AssertionError("the downgrade should refuse while intraday series exist")
        except RuntimeError as exc:
            assert "intraday series exist (SPX)" in str(exc)
        # Later revisions may have stepped down first (SQLite commits each DDL step); 0005 stayed.
        assert migrate.current_revision(engine) in {"0005_market_time", migrate.head_revision(settings)}
    finally:
        engine.dispose()


def test_checkpoints_migration_moves_files_into_the_database_and_back(settings):
    """0007 WITH data: a readable file becomes a model_checkpoint row, a missing one stays a file reference."""
    import hashlib

    from sqlalchemy import text

    engine = make_engine(settings.db_url)
    folder = settings.data_dir / "checkpoints"
    folder.mkdir(parents=True)
    blob = b"\x00safetensors bytes\xff" * 100
    (folder / "t1-j1-a1.safetensors").write_bytes(blob)
    try:
        migrate.downgrade(settings, "0005_market_time")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO ticker (id, symbol, revision, created_at, updated_at) "
                              "VALUES (1, 'SPX', 3, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            for mid, path in ((1, "checkpoints/t1-j1-a1.safetensors"), (2, "checkpoints/gone.safetensors"),
                              (3, "../outside.safetensors")):
                conn.execute(text("INSERT INTO model_version (id, ticker_id, version, status, checkpoint_path, "
                                  "checkpoint_sha256, config, price_field, n_rows, data_revision, metrics, backtest, "
                                  "seed, trained_at) VALUES (:id, 1, :id, 'retired', :path, 's', '{}', 'close', 2, 3, "
                                  "'{}', '[]', 0, '2026-01-01 00:00:00')"), {"id": mid, "path": path})
        (settings.data_dir.parent / "outside.safetensors").write_bytes(b"not ours")
        migrate.upgrade(settings)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT model_version_id, sha256, size, data FROM model_checkpoint")).all()
            assert [(r[0], r[1], r[2], bytes(r[3])) for r in rows] == \
                [(1, hashlib.sha256(blob).hexdigest(), len(blob), blob)]
            paths = dict(conn.execute(text("SELECT id, checkpoint_path FROM model_version")).all())
            assert paths == {1: "db:checkpoints/t1-j1-a1.safetensors", 2: "checkpoints/gone.safetensors",
                             3: "../outside.safetensors"}
        (folder / "t1-j1-a1.safetensors").unlink()  # the database copy is the checkpoint now
        migrate.downgrade(settings, "0005_market_time")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT checkpoint_path FROM model_version WHERE id = 1")).scalar_one() == \
                "checkpoints/m1.safetensors"
        assert (folder / "m1.safetensors").read_bytes() == blob
        migrate.upgrade(settings)
        with engine.connect() as conn:
            assert bytes(conn.execute(text("SELECT data FROM model_checkpoint")).scalar_one()) == blob
    finally:
        engine.dispose()
