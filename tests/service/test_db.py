"""Transactions on SQLite: units of work queue for the write lock instead of failing."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from service.db import make_engine, make_sessionmaker, read_only_sessions


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    return engine


def test_read_then_write_waits_for_a_concurrent_writer(tmp_path):
    """Read, then write inside a savepoint (as bulk training does) while another writer commits.

    With deferred transactions the savepoint's read snapshot went stale and the write failed at
    once with 'database is locked', whatever the busy timeout.
    """
    engine = _engine(tmp_path)
    factory = make_sessionmaker(engine)
    other_done = threading.Event()

    def other_writer() -> None:
        with factory() as s:
            s.execute(text("INSERT INTO t VALUES (2)"))
            s.commit()
        other_done.set()

    try:
        with factory() as first:
            with first.begin_nested():
                assert first.execute(text("SELECT count(*) FROM t")).scalar() == 0
                thread = threading.Thread(target=other_writer)
                thread.start()
                other_done.wait(0.5)  # a deferred transaction lets it commit here; IMMEDIATE makes it wait
                first.execute(text("INSERT INTO t VALUES (1)"))
            first.commit()
        thread.join(10)
        assert other_done.is_set()
        with engine.connect() as conn:
            assert sorted(conn.execute(text("SELECT x FROM t")).scalars()) == [1, 2]
    finally:
        engine.dispose()


def test_read_only_sessions_do_not_queue_behind_a_writer(tmp_path):
    engine = _engine(tmp_path)
    factory = make_sessionmaker(engine)
    try:
        with factory() as writer:
            writer.execute(text("INSERT INTO t VALUES (1)"))  # holds the write lock until commit
            start = time.monotonic()
            with read_only_sessions(), factory() as reader:
                assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
            assert time.monotonic() - start < 1
            writer.commit()
    finally:
        engine.dispose()
