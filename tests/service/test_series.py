"""Domain functions for price series, against real SQLite and Postgres sessions."""

from __future__ import annotations

from datetime import date

import pytest

from service.errors import NotFound
from service.series import delete_series, find_ticker, list_prices, list_series, store_prices
from service.uploads import ParsedUpload
from tests.factories import make_series, make_upload


def test_first_upload_inserts_and_bumps_revision(session):
    report = make_series(session, n=30)
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged) == (30, 0, 0)
    assert report.revision == 1
    assert len(list_prices(session, symbol="TEST")) == 30


def test_same_upload_twice_changes_nothing(session):
    make_series(session, n=30)
    report = store_prices(session, symbol="TEST", upload=make_upload(n=30))
    session.commit()
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged) == (0, 0, 30)
    assert report.revision == 1


def test_merge_updates_changed_rows_and_keeps_absent_columns(session):
    base = make_upload(n=3, volume=[1, 2, 3])
    store_prices(session, symbol="TEST", upload=base)
    change = ParsedUpload(dates=base.dates[1:], columns={"close": [base.columns["close"][1], 999.0]}, rows_received=2)
    report = store_prices(session, symbol="TEST", upload=change)
    session.commit()
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged, report.revision) == (0, 1, 1, 2)
    rows = list_prices(session, symbol="TEST")
    assert [r.close for r in rows][-1] == 999.0
    assert [r.volume for r in rows] == [1, 2, 3]  # volume was absent from the second upload


def test_empty_cell_stores_null(session):
    base = make_upload(n=2, volume=[1, 2])
    store_prices(session, symbol="TEST", upload=base)
    store_prices(session, symbol="TEST", upload=ParsedUpload(base.dates, {"close": base.columns["close"], "volume": [None, 2]}, 2))
    session.commit()
    assert [r.volume for r in list_prices(session, symbol="TEST")] == [None, 2]


def test_replace_makes_the_upload_the_whole_series(session):
    make_series(session, n=10, volume=list(range(10)))
    report = store_prices(session, symbol="TEST", upload=make_upload(n=4), mode="replace")
    session.commit()
    assert report.rows_deleted == 6 and report.rows_unchanged == 0 and report.rows_updated == 4
    rows = list_prices(session, symbol="TEST")
    assert len(rows) == 4 and all(r.volume is None for r in rows)


def test_list_series_and_limits(session):
    make_series(session, symbol="AAA", n=20)
    make_series(session, symbol="BBB", n=5, start=date(2023, 1, 2))
    summaries = list_series(session)
    assert [(s.ticker, s.rows) for s in summaries] == [("AAA", 20), ("BBB", 5)]
    latest = list_prices(session, symbol="AAA", limit=3)
    assert len(latest) == 3 and latest[-1].date == summaries[0].last_date
    assert latest[0].date < latest[1].date


def test_delete_removes_ticker_and_prices(session):
    make_series(session, n=5)
    delete_series(session, symbol="TEST")
    session.commit()
    assert find_ticker(session, symbol="TEST") is None
    with pytest.raises(NotFound):
        list_prices(session, symbol="TEST")
