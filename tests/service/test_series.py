"""Domain functions for price series, against real SQLite and Postgres sessions."""

from __future__ import annotations

from datetime import date

import pytest

from service.errors import NotFound
from service.series import delete_series, find_ticker, list_prices, list_series
from service.store import store_prices, store_uploads
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
    change = ParsedUpload.of_dates(base.dates[1:], {"close": [base.columns["close"][1], 999.0]}, rows_received=2)
    report = store_prices(session, symbol="TEST", upload=change)
    session.commit()
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged, report.revision) == (0, 1, 1, 2)
    rows = list_prices(session, symbol="TEST")
    assert [r.close for r in rows][-1] == 999.0
    assert [r.volume for r in rows] == [1, 2, 3]  # volume was absent from the second upload


def test_empty_cell_stores_null(session):
    base = make_upload(n=2, volume=[1, 2])
    store_prices(session, symbol="TEST", upload=base)
    store_prices(session, symbol="TEST", upload=ParsedUpload.of_dates(base.dates, {"close": base.columns["close"], "volume": [None, 2]}, 2))
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
    assert len(latest) == 3 and latest[-1].ts == summaries[0].last_ts
    assert latest[0].ts < latest[1].ts


def test_delete_removes_ticker_and_prices(session):
    make_series(session, n=5)
    delete_series(session, symbol="TEST")
    session.commit()
    assert find_ticker(session, symbol="TEST") is None
    with pytest.raises(NotFound):
        list_prices(session, symbol="TEST")


# --- store_uploads: one call for one or many tickers (issue 12) ---

def test_store_uploads_reports_each_ticker_in_symbol_order(session):
    make_series(session, symbol="BBB", n=5)
    reports = store_uploads(session, uploads={"CCC": make_upload(n=3), "BBB": make_upload(n=6), "AAA": make_upload(n=2)},
                            mode="merge")
    session.commit()
    assert [(r.ticker, r.rows_inserted, r.rows_unchanged, r.revision) for r in reports] == [
        ("AAA", 2, 0, 1), ("BBB", 1, 5, 2), ("CCC", 3, 0, 1)]
    assert [(s.ticker, s.rows) for s in list_series(session)] == [("AAA", 2), ("BBB", 6), ("CCC", 3)]


def test_unchanged_ticker_keeps_its_revision_in_a_bulk_call(session):
    make_series(session, symbol="AAA", n=4)
    reports = store_uploads(session, uploads={"AAA": make_upload(n=4), "BBB": make_upload(n=4)}, mode="merge")
    assert [(r.ticker, r.rows_unchanged, r.revision) for r in reports] == [("AAA", 4, 1), ("BBB", 0, 1)]


def test_replace_in_bulk_deletes_per_ticker(session):
    make_series(session, symbol="AAA", n=10)
    make_series(session, symbol="BBB", n=3)
    reports = store_uploads(session, uploads={"AAA": make_upload(n=4), "BBB": make_upload(n=5)}, mode="replace")
    session.commit()
    assert [(r.rows_deleted, r.rows_inserted) for r in reports] == [(6, 0), (0, 2)]
    assert [(s.ticker, s.rows) for s in list_series(session)] == [("AAA", 4), ("BBB", 5)]


def test_merge_keeps_columns_an_upload_lacks_per_ticker(session):
    base = make_upload(n=3, volume=[1, 2, 3], open=[9.0, 9.0, 9.0])
    store_uploads(session, uploads={"AAA": base, "BBB": base}, mode="merge")
    only_close = ParsedUpload.of_dates(base.dates, {"close": [5.0, 5.0, 5.0]}, 3)
    with_volume = ParsedUpload.of_dates(base.dates, {"close": base.columns["close"], "volume": [None, 7, 3]}, 3)
    reports = store_uploads(session, uploads={"AAA": only_close, "BBB": with_volume}, mode="merge")
    session.commit()
    assert [(r.rows_updated, r.rows_unchanged) for r in reports] == [(3, 0), (2, 1)]
    aaa, bbb = list_prices(session, symbol="AAA"), list_prices(session, symbol="BBB")
    assert [(p.close, p.open, p.volume) for p in aaa] == [(5.0, 9.0, 1), (5.0, 9.0, 2), (5.0, 9.0, 3)]
    assert [p.volume for p in bbb] == [None, 7, 3] and [p.open for p in bbb] == [9.0, 9.0, 9.0]


def test_values_round_trip_exactly(session):
    close = [0.1, 1 / 3, 123456.78901234567, 5e-324 * 1e10, 1.7976931348623157e308]
    volume = [0, 1, 2**53 + 1, 2**62, 2**63 - 1]
    upload = ParsedUpload.of_dates(make_upload(n=5).dates, {"close": close, "volume": volume}, 5)
    store_uploads(session, uploads={"EXACT": upload}, mode="merge")
    session.commit()
    rows = list_prices(session, symbol="EXACT")
    assert [r.close for r in rows] == close and [r.volume for r in rows] == volume
    again = store_uploads(session, uploads={"EXACT": upload}, mode="merge")[0]
    assert again.rows_unchanged == 5


def test_the_session_sees_the_new_revision(session):
    make_series(session, n=3)
    ticker = find_ticker(session, symbol="TEST")
    assert ticker.revision == 1
    store_prices(session, symbol="TEST", upload=make_upload(n=4))
    assert ticker.revision == 2


# --- warnings against the stored series (issues 14.13 and 11) ---

def test_missing_sessions_against_the_stored_series(session):
    make_series(session, n=5, start=date(2024, 1, 8))  # 2024-01-08 .. 2024-01-12
    later = ParsedUpload.of_dates([date(2024, 1, 22)], {"close": [100.0]})
    report = store_prices(session, symbol="TEST", upload=later)
    # 2024-01-15 is Martin Luther King Jr. Day: closed, so not missing.
    assert ("4 XNYS session(s) missing between 2024-01-12 and 2024-01-22: 2024-01-16, 2024-01-17, 2024-01-18, "
            "2024-01-19") in report.warnings
    early = ParsedUpload.of_dates([date(2023, 12, 28)], {"close": [100.0]})
    report = store_prices(session, symbol="TEST", upload=early)
    # 2024-01-01 (New Year's Day) is no session either: only 2023-12-29 and 2024-01-02 .. 2024-01-05 are missing.
    assert report.warnings[0].startswith("5 XNYS session(s) missing between 2023-12-28 and 2024-01-08: 2023-12-29, "
                                         "2024-01-02, 2024-01-03, 2024-01-04, 2024-01-05")


def test_stored_rows_fill_a_gap_inside_the_upload(session):
    make_series(session, n=30, start=date(2024, 1, 2))
    sparse = ParsedUpload.of_dates([date(2024, 1, 2), date(2024, 2, 1)], {"close": [1.0, 2.0]})
    report = store_prices(session, symbol="TEST", upload=sparse)
    assert not any("missing" in w for w in report.warnings), report.warnings
    new = store_prices(session, symbol="NEW", upload=sparse)
    assert any(w.startswith("20 XNYS session(s) missing between 2024-01-02 and 2024-02-01") for w in new.warnings)


def test_rows_on_weekends_and_holidays_warn(session):
    upload = ParsedUpload.of_dates([date(2024, 1, 5), date(2024, 1, 6), date(2024, 12, 25)], {"close": [1.0, 1.0, 1.0]})
    report = store_prices(session, symbol="TEST", upload=upload)
    assert "2024-01-06: a Saturday, not a XNYS session (a weekend); check the dates" in report.warnings
    assert "2024-12-25: a Wednesday, not a XNYS session (a holiday or closure); check the dates" in report.warnings


def test_a_24_7_series_has_no_weekends(session):
    upload = ParsedUpload.of_dates([date(2024, 1, 5), date(2024, 1, 6), date(2024, 1, 7)], {"close": [1.0, 1.0, 1.0]})
    report = store_prices(session, symbol="BTC", upload=upload, calendar="24/7")
    assert report.calendar == "24/7" and not any("session" in w for w in report.warnings)
    assert find_ticker(session, symbol="BTC").calendar == "24/7"


def test_too_short_to_train_names_both_numbers(session):
    from models.lstm import LSTMConfig
    from models.train import min_rows

    needed = min_rows(LSTMConfig())
    report = make_series(session, n=needed - 1)
    assert f"the series has {needed - 1} prices; training with default settings needs at least {needed}" \
        in " ".join(report.warnings)
    report = store_prices(session, symbol="TEST", upload=make_upload(n=needed))
    session.commit()
    assert not any("too short" in w for w in report.warnings)


def test_bulk_uploads_in_any_order_do_not_deadlock(settings):
    """Two writers upload the same five tickers, listed in opposite orders, at the same time."""
    import threading

    from service.db import make_engine, make_sessionmaker

    engine = make_engine(settings.db_url)
    factory = make_sessionmaker(engine)
    symbols = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    errors: list[BaseException] = []

    def writer(order: list[str], seed: int) -> None:
        try:
            for i in range(4):
                with factory() as session:
                    store_uploads(session, uploads={s: make_upload(n=50, seed=seed * 10 + i) for s in order},
                                  mode="merge")
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(symbols, 1)),
               threading.Thread(target=writer, args=(symbols[::-1], 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with factory() as session:
        assert [(s.ticker, s.rows, s.revision) for s in list_series(session)] == [(s, 50, 8) for s in symbols]
    engine.dispose()
