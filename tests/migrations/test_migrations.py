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
        # Postgres undoes the whole downgrade; SQLite (no transactional DDL for Alembic) stops at the
        # refusing step, every row still there
        sqlite = settings.db_url.startswith("sqlite")
        assert migrate.current_revision(engine) == ("0005_market_time" if sqlite else migrate.head_revision(settings))
    finally:
        engine.dispose()


def test_ids_never_reused_migration_keeps_every_row_and_no_id_comes_back(settings):
    """Issue 13 row 10: on SQLite a deleted ticker's (and job's) id went to the next one created.

    From 0005 with data: the upgrade rebuilds five tables on SQLite and must cascade to nothing;
    afterwards, deleting the newest ticker and adding another gives a new id, on both databases.
    """
    from sqlalchemy import text

    from service.tables import NEVER_REUSED

    engine = make_engine(settings.db_url)
    try:
        migrate.downgrade(settings, "0005_market_time")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO ticker (id, symbol, revision, created_at, updated_at) VALUES "
                              "(1, 'A', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
                              "(2, 'B', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO price_point (ticker_id, ts, close) VALUES (1, 0, 1.0), (2, 86400, 2.0)"))
            conn.execute(text("INSERT INTO model_version (id, ticker_id, version, status, checkpoint_path, "
                              "checkpoint_sha256, config, price_field, n_rows, data_revision, metrics, backtest, seed, "
                              "trained_at) VALUES (1, 2, 1, 'active', 'c', 's', '{}', 'close', 1, 1, '{}', '[]', 0, "
                              "'2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO training_job (id, ticker_id, status, params, progress, history, attempts, "
                              "priority, cancel_requested, created_at, model_version_id) VALUES (1, 2, 'succeeded', "
                              "'{}', '{}', '[]', 1, 0, false, '2026-01-01 00:00:00', 1)"))
            conn.execute(text("INSERT INTO forecast_record (id, ticker_id, version, price_field, as_of_ts, last_price, "
                              "predicted_price, prob_up, intervals, served_at) VALUES (1, 2, 1, 'close', 86400, 2.0, "
                              "2.0, 0.5, '[]', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO api_key (id, name, prefix, digest, read_only, created_at) VALUES "
                              "(1, 'k', 'pc_x', 'd', false, '2026-01-01 00:00:00')"))
            if not settings.db_url.startswith("sqlite"):  # rows given ids by hand leave a sequence behind
                for t in NEVER_REUSED:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"))
        migrate.upgrade(settings)
        counts = {t: 1 for t in NEVER_REUSED} | {"ticker": 2, "price_point": 2}
        with engine.connect() as conn:
            assert {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in counts} == counts
            assert conn.execute(text("SELECT model_version_id FROM training_job")).scalar_one() == 1
            if settings.db_url.startswith("sqlite"):
                sql = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
                assert all("AUTOINCREMENT" in sql[t] for t in NEVER_REUSED), sql
        with engine.begin() as conn:  # the newest ticker and its job go; the next ones get new ids
            conn.execute(text("DELETE FROM ticker WHERE id = 2"))
            assert conn.execute(text("SELECT count(*) FROM training_job")).scalar_one() == 0  # cascaded again
            conn.execute(text("INSERT INTO ticker (symbol, revision, calendar, frequency, created_at, updated_at) "
                              "VALUES ('C', 0, 'XNYS', '1d', '2026-01-02 00:00:00', '2026-01-02 00:00:00')"))
            assert conn.execute(text("SELECT id FROM ticker WHERE symbol = 'C'")).scalar_one() == 3
        migrate.downgrade(settings, "0005_market_time")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM price_point")).scalar_one() == 1
            assert sorted(conn.execute(text("SELECT symbol FROM ticker")).scalars()) == ["A", "C"]
        migrate.upgrade(settings)
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
