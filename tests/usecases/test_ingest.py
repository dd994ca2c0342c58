"""Ingest: the same sequence for a single upload, a bulk upload and the CLI (store, resolve, retrain, deliver)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from service.calendars import day_ts
from service.errors import InvalidInput
from service.schemas.forecasts import ForecastRequest
from service.tables import ForecastRecord, JobStatus, PricePoint, TrainingJob
from service.training.jobs import PRIORITY_BULK
from service.usecases import forecasts, ingest
from service.usecases.runtime import open_runtime
from tests.factories import csv_text, make_upload, train_model


def _csv(n: int, *, ticker: str | None = None, start: int = 0) -> bytes:
    upload = make_upload(n=n)
    lines = csv_text(upload).splitlines()
    rows = lines[1 + start:]
    if ticker is None:
        return ("\n".join([lines[0], *rows]) + "\n").encode()
    return ("\n".join([f"ticker,{lines[0]}", *(f"{ticker},{r}" for r in rows)]) + "\n").encode()


def test_single_upload_reports_and_stores(rt):
    report = ingest.upload_series(rt, symbol="A", kind="csv", body=_csv(30))
    assert (report.ticker, report.rows_inserted, report.revision) == ("A", 30, 1)
    again = ingest.upload_series(rt, symbol="A", kind="json",
                                 body={"points": [{"date": "2030-01-02", "close": 5.0}]})
    assert (again.rows_inserted, again.revision) == (1, 2)


def test_bulk_upload_is_all_or_nothing_in_symbol_order(rt):
    body = _csv(3, ticker="BBB") + _csv(3, ticker="AAA")[len(b"ticker,date,close\n"):]
    reports = ingest.upload_many(rt, body=body)
    assert [r.ticker for r in reports] == ["AAA", "BBB"]
    bad = body + b"CCC,2024-01-02,abc\n"
    with pytest.raises(InvalidInput):
        ingest.upload_many(rt, body=bad)
    with rt.reading() as s:
        assert len(s.scalars(select(PricePoint)).all()) == 6


@pytest.mark.parametrize("route", ["single", "bulk"])
def test_new_prices_resolve_served_forecasts_and_queue_a_retrain_by_either_route(settings, route):
    s = settings.model_copy(update={"embedded_worker": False, "retrain_after": 1})
    rt = open_runtime(s)
    try:
        ingest.upload_series(rt, symbol="T", kind="csv", body=_csv(400))
        train_model(rt.sessions, s, symbol="T")
        served = forecasts.forecast(rt, ForecastRequest(ticker="T")).data()
        more = _csv(401, start=400) if route == "single" else _csv(401, ticker="T", start=400)
        report = (ingest.upload_series(rt, symbol="T", kind="csv", body=more) if route == "single"
                  else ingest.upload_many(rt, body=more)[0])
        assert report.rows_inserted == 1
        assert any("queued retraining job" in w for w in report.warnings)
        with rt.reading() as session:
            record = session.scalars(select(ForecastRecord)).one()
            assert record.resolved_at is not None and record.as_of_ts == day_ts(date.fromisoformat(served["as_of"]))
            job = session.scalars(select(TrainingJob).where(TrainingJob.status == JobStatus.QUEUED)).one()
            assert job.priority == PRIORITY_BULK
        assert rt.queue.pending() == 1  # delivered after the commit
        unchanged = ingest.upload_series(rt, symbol="T", kind="csv", body=more) if route == "single" else \
            ingest.upload_many(rt, body=more)[0]
        assert unchanged.rows_unchanged == 1 and not any("retraining" in w for w in unchanged.warnings)
    finally:
        rt.close()


def test_a_failed_store_leaves_nothing_and_queues_nothing(settings):
    s = settings.model_copy(update={"embedded_worker": False, "retrain_after": 1})
    rt = open_runtime(s)
    try:
        with pytest.raises(InvalidInput):
            ingest.upload_series(rt, symbol="T", kind="csv", body=b"date,close\n2024-01-02,-1\n")
        with rt.reading() as session:
            assert session.scalars(select(TrainingJob)).all() == [] and session.scalars(select(PricePoint)).all() == []
        assert rt.queue.pending() == 0
    finally:
        rt.close()
