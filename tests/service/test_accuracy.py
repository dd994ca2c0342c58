"""Live accuracy as domain functions: served forecasts resolve when the next price arrives."""

from __future__ import annotations

from datetime import date

import pytest

from service.accuracy import accuracy_report, resolve_forecasts
from service.calendars import day_ts
from service.store import store_prices
from service.tables import ForecastRecord
from tests.factories import make_series, make_upload


def _served(session, ticker_id: int, as_of: date, *, last: float, predicted: float, version: int = 1) -> None:
    session.add(ForecastRecord(ticker_id=ticker_id, version=version, price_field="close", as_of_ts=day_ts(as_of),
                               last_price=last, predicted_price=predicted, prob_up=0.6,
                               intervals=[{"level": 80, "low": last * 0.9, "high": last * 1.1}]))
    session.flush()


def test_a_forecast_resolves_with_the_first_price_after_its_day(session):
    report = make_series(session, symbol="A", n=10)
    upload = make_upload(n=12)
    as_of = upload.dates[9]
    last = upload.columns["close"][9]
    _served(session, report.ticker_id, as_of, last=last, predicted=last * 1.01)
    assert resolve_forecasts(session, ticker_id=report.ticker_id) == 0  # nothing after it yet
    store_prices(session, symbol="A", upload=upload)
    assert resolve_forecasts(session, ticker_id=report.ticker_id) == 1
    session.commit()
    record = session.query(ForecastRecord).one()
    assert record.target_ts == day_ts(upload.dates[10]) and record.actual_price == upload.columns["close"][10]
    assert resolve_forecasts(session, ticker_id=report.ticker_id) == 0  # once


def test_the_report_puts_the_model_next_to_persistence(session):
    report = make_series(session, symbol="A", n=3)
    upload = make_upload(n=3)
    closes = upload.columns["close"]
    _served(session, report.ticker_id, upload.dates[0], last=closes[0], predicted=closes[1])  # a perfect forecast
    _served(session, report.ticker_id, upload.dates[1], last=closes[1], predicted=closes[1], version=2)
    _served(session, report.ticker_id, upload.dates[2], last=closes[2], predicted=closes[2], version=2)  # pending
    resolve_forecasts(session, ticker_id=report.ticker_id)
    out = accuracy_report(session, symbol="A")
    assert (out["served"], out["pending"]) == (3, 1)
    assert [v["version"] for v in out["versions"]] == [2, 1]
    v1 = out["versions"][1]
    assert v1["mae"] == 0 and v1["persistence_mae"] == pytest.approx(abs(closes[1] - closes[0]))
    assert out["versions"][0]["persistence_mae"] == out["versions"][0]["mae"]  # predicted = last
