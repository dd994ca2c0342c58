"""Bulk, stale and automatic training as domain functions, against real SQLite and Postgres."""

from __future__ import annotations

import pytest

from service import retraining
from service.errors import InvalidInput
from service.store import store_prices
from service.tables import JobStatus
from service.training.jobs import PRIORITY_BULK
from tests.factories import TINY, make_series, make_upload, run_job, train_model


def test_bulk_submit_reports_each_ticker_problem(factory, settings):
    with factory() as s:
        make_series(s, symbol="A", n=400)
        make_series(s, symbol="SHORT", n=50)
        jobs, errors, created = retraining.submit_bulk(s, settings=settings, tickers=["A", "SHORT", "NOPE", "a b"],
                                                       params=TINY)
        s.commit()
        assert [j.ticker.symbol for j in jobs] == ["A"] and created == jobs and jobs[0].priority == PRIORITY_BULK
        assert [(e["ticker"], e["code"]) for e in errors] == [("SHORT", "series_too_short"), ("NOPE", "not_found"),
                                                              ("a b", "invalid_input")]
        with pytest.raises(InvalidInput):
            retraining.submit_bulk(s, settings=settings, tickers=["A"], all_=True)
    assert run_job(factory, settings, jobs[0].id) == "succeeded"


def test_stale_means_stale_after_prices_past_the_active_model(factory, settings):
    with factory() as s:
        make_series(s, symbol="A", n=400)
        make_series(s, symbol="UNTRAINED", n=400)
    train_model(factory, settings, symbol="A")
    with factory() as s:
        assert retraining.stale_tickers(s, settings=settings) == []
        store_prices(s, symbol="A", upload=make_upload(n=405, seed=0))
        s.commit()
        assert retraining.points_behind(s) == {"A": 5}
        assert retraining.stale_tickers(s, settings=settings.model_copy(update={"stale_after": 5})) == ["A"]
        assert retraining.stale_tickers(s, settings=settings.model_copy(update={"stale_after": 6})) == []
        # PRICECAST_RETRAIN_AFTER is the upload trigger, not the meaning of stale
        assert retraining.stale_tickers(s, settings=settings.model_copy(update={"retrain_after": 1})) == []
        jobs, _, _ = retraining.submit_bulk(s, settings=settings.model_copy(update={"stale_after": 5}), stale=True)
        assert [j.ticker.symbol for j in jobs] == ["A"]


def test_maybe_retrain_follows_retrain_after(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    train_model(factory, settings)
    with factory() as s:
        store_prices(s, symbol="TEST", upload=make_upload(n=403))
        assert retraining.maybe_retrain(s, settings=settings, symbol="TEST") is None  # off by default
        assert retraining.maybe_retrain(s, settings=settings.model_copy(update={"retrain_after": 4}),
                                        symbol="TEST") is None
        job = retraining.maybe_retrain(s, settings=settings.model_copy(update={"retrain_after": 3}), symbol="TEST")
        assert job is not None and job.status == JobStatus.QUEUED and job.priority == PRIORITY_BULK
        assert retraining.maybe_retrain(s, settings=settings.model_copy(update={"retrain_after": 3}),
                                        symbol="TEST") is None  # the open job covers it
