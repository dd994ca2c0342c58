"""Training use cases: the one priority rule, the one delivery-failure rule, the reaper's re-delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from service.db import utcnow
from service.errors import InvalidInput, NotFound, Unavailable
from service.tables import JobStatus, TrainingJob
from service.training.jobs import PRIORITY_SINGLE, Origin, origin_of
from service.usecases import training
from service.usecases.runtime import open_runtime
from tests.factories import TINY, make_series


def test_the_priority_rule():
    assert origin_of(tickers=["A"]) is Origin.SINGLE
    assert origin_of(tickers=["A", "A"]) is Origin.SINGLE
    assert origin_of(tickers=["A", "B"]) is Origin.BULK
    assert origin_of(tickers=None) is Origin.BULK  # all, stale


def test_single_and_bulk_requests_are_delivered_at_their_priority(rt):
    with rt.unit_of_work() as s:
        for symbol in ("A", "B", "C"):
            make_series(s, symbol=symbol, n=400)
    bulk = training.request_training(rt, tickers=["B", "C"], params=TINY)
    one, created = training.train_ticker(rt, symbol="A", params=TINY)
    assert created and sorted(bulk.created) == sorted(j.id for j in bulk.jobs)
    assert rt.queue.pending() == 3
    # the queue hands out the single-ticker job first, though it was sent last
    assert rt.queue.huey.dequeue().args[0] == one.id
    again, created = training.train_ticker(rt, symbol="A")
    assert not created and again.id == one.id and rt.queue.pending() == 2


def test_bad_parameters_are_one_error_not_one_per_ticker(rt):
    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
    with pytest.raises(InvalidInput, match="window=2"):
        training.request_training(rt, tickers=["A", "B"], params={"window": 2})
    with pytest.raises(NotFound):
        training.train_ticker(rt, symbol="NOPE")


def test_jobs_the_queue_refuses_are_failed_and_the_request_gets_503(settings):
    rt = open_runtime(settings.model_copy(update={"queue_url": "redis://127.0.0.1:1/0"}))
    try:
        with rt.unit_of_work() as s:
            for symbol in ("A", "B"):
                make_series(s, symbol=symbol, n=400)
        with pytest.raises(Unavailable, match="job queue"):
            training.request_training(rt, tickers=["A", "B"], params=TINY)
        jobs = training.read_jobs(rt).jobs
        assert [j.status for j in jobs] == [JobStatus.FAILED] * 2
        assert all(j.error.startswith("could not reach the job queue") for j in jobs)
        assert training.deliver(rt, []) is None
    finally:
        rt.close()


def test_the_reaper_redelivers_at_the_jobs_own_priority(rt):
    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
    job, _ = training.train_ticker(rt, symbol="A", params=TINY)
    rt.queue.huey.dequeue()  # the broker loses the message
    with rt.unit_of_work() as s:
        s.execute(update(TrainingJob).where(TrainingJob.id == job.id).values(
            status=JobStatus.RUNNING, attempts=1, worker_id="gone:1", heartbeat_at=utcnow() - timedelta(hours=1)))
    assert training.reap(rt) == [job.id]
    assert rt.queue.pending() == 1
    message = rt.queue.huey.dequeue()
    assert message.args[0] == job.id and message.priority == PRIORITY_SINGLE
    assert training.read_job(rt, job_id=job.id).status == JobStatus.QUEUED


def test_cancel_and_read(rt):
    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
    job, _ = training.train_ticker(rt, symbol="A", params=TINY)
    assert training.cancel(rt, job_id=job.id).status == JobStatus.CANCELLED
    assert training.read_jobs(rt, symbol="A", status=JobStatus.CANCELLED).jobs[0].id == job.id
