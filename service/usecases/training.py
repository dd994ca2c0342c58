"""Training: request jobs (one ticker or many), deliver them, run them, cancel them, re-queue lost ones.

Every job reaches the queue through `deliver`, which applies the two rules of delivery:
- priority: the job row's own (service/training/jobs.py `origin_of`: a request that names exactly
  one ticker goes ahead of bulk work), whether the request, `train --queue` or the reaper sends it;
- failure: a job the queue does not take is failed at once, with the reason on the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update

from models.train import EpochInfo
from service.db import utcnow
from service.errors import Unavailable
from service.grouptraining import is_groupable, run_group
from service.registry import find_active
from service.retraining import submit_bulk
from service.schemas.errors import TickerError
from service.schemas.training import BulkTrainRead, JobListRead, JobRead
from service.series import get_ticker, list_prices
from service.tables import JobStatus, TrainingJob
from service.training.jobs import cancel_job, get_job, list_jobs, origin_of, reap_stale_jobs, submit_training
from service.training.params import parse_params
from service.training.runner import requeue_interrupted as _requeue_interrupted
from service.training.runner import run_training
from service.usecases.runtime import Runtime

log = logging.getLogger("pricecast.jobs")


@dataclass
class TrainingRequested:
    """What a training request did: its jobs (new or already open), per-ticker errors, the new job ids."""

    jobs: list[JobRead] = field(default_factory=list)
    errors: list[TickerError] = field(default_factory=list)
    created: list[int] = field(default_factory=list)

    def read(self) -> BulkTrainRead:
        return BulkTrainRead(jobs=self.jobs, errors=self.errors)


def deliver(rt: Runtime, jobs: list[tuple[int, int]]) -> str | None:
    """Send committed (job id, priority) pairs to the queue; return None, or why the queue refused.

    The failure rule: every job not delivered is failed with the reason, so none waits forever
    for a message that was never sent. The caller decides what its user sees (503, a warning).
    """
    for i, (job_id, priority) in enumerate(jobs):
        try:
            rt.queue.enqueue(job_id, priority=priority)
        except Exception as exc:  # noqa: BLE001 - Redis down, disk full...: reported, never raised here
            reason = f"could not reach the job queue: {type(exc).__name__}"
            log.exception("enqueue of job %s failed", job_id)
            undelivered = [j for j, _ in jobs[i:]]
            with rt.unit_of_work() as session:
                session.execute(update(TrainingJob).where(TrainingJob.id.in_(undelivered),
                                                          TrainingJob.status == JobStatus.QUEUED)
                                .values(status=JobStatus.FAILED, error=reason, finished_at=utcnow()))
            return reason
    return None


def _deliver_or_raise(rt: Runtime, jobs: list[tuple[int, int]]) -> None:
    reason = deliver(rt, jobs)
    if reason is not None:
        raise Unavailable(f"the job queue is unavailable ({reason.rsplit(': ', 1)[-1]}); retry shortly",
                          headers={"Retry-After": "5"})


def train_ticker(rt: Runtime, *, symbol: str, params: dict | None = None) -> tuple[JobRead, bool]:
    """Queue a training job for one ticker and deliver it; return (job, created). An open job is returned instead."""
    with rt.unit_of_work() as session:
        job, created = submit_training(session, settings=rt.settings, symbol=symbol, params=params,
                                       origin=origin_of(tickers=[symbol]))
        out, sent = JobRead.model_validate(job), (job.id, job.priority)
    if created:
        _deliver_or_raise(rt, [sent])
    return out, created


def request_training(rt: Runtime, *, tickers: list[str] | None = None, all_: bool = False, stale: bool = False,
                     params: dict | None = None, deliver_jobs: bool = True) -> TrainingRequested:
    """Queue one job per ticker (listed, all, or stale); one ticker's problem is an entry in `errors`.

    `deliver_jobs=False` leaves new jobs for the caller to run in its own process (`pricecast train`).
    """
    parse_params(params)  # one error for bad parameters, not one per ticker
    with rt.unit_of_work() as session:
        jobs, errors, created = submit_bulk(session, settings=rt.settings, tickers=tickers, all_=all_, stale=stale,
                                            params=params, origin=origin_of(tickers=tickers))
        out = TrainingRequested([JobRead.model_validate(j) for j in jobs],
                                [TickerError.model_validate(e) for e in errors], [j.id for j in created])
        sent = [(j.id, j.priority) for j in created]
    if deliver_jobs:
        _deliver_or_raise(rt, sent)
    return out


def run_job(rt: Runtime, *, job_id: int, worker_id: str, on_epoch: Callable[[EpochInfo], None] | None = None,
            interrupt: Callable[[], bool] | None = None) -> str | None:
    """Claim a queued job and train it in this process; return its final status (None: not ours).

    A bulk job trains in a group with other queued bulk jobs of the same parameters
    (service/grouptraining.py); a single-ticker job, or any job with PRICECAST_TRAIN_GROUP_SIZE=1, alone.
    interrupt() true (this process is shutting down): the job (or group) stops at its next batch and is re-queued.
    """
    if rt.settings.train_group_size > 1 and on_epoch is None and is_groupable(rt.sessions, job_id):
        return run_group(rt.settings, rt.sessions, job_id=job_id, worker_id=worker_id, interrupt=interrupt)
    return run_training(rt.settings, rt.sessions, job_id=job_id, worker_id=worker_id, on_epoch=on_epoch,
                        interrupt=interrupt)


def requeue_interrupted(rt: Runtime, *, job_id: int | None, worker_suffix: str) -> bool:
    """A training process was killed during shutdown: put its job (None: every job it ran, a group) back in the
    queue (the next reaper pass sends it)."""
    return _requeue_interrupted(rt.sessions, job_id, worker_suffix=worker_suffix)


def run_jobs(rt: Runtime, *, job_ids: list[int], worker_id: str) -> dict[int, str | None]:
    """Run these queued jobs in this process (bulk ones in groups); return each job's final status."""
    out: dict[int, str | None] = {}
    for job_id in job_ids:
        if job_id not in out:
            run_job(rt, job_id=job_id, worker_id=worker_id)
            out[job_id] = None
    with rt.reading() as session:
        rows = session.execute(select(TrainingJob.id, TrainingJob.status).where(TrainingJob.id.in_(job_ids))).all()
    return {**out, **{i: s for i, s in rows}}


def reap(rt: Runtime) -> list[int]:
    """Re-queue jobs whose worker went silent (or fail them after max attempts) and deliver them again."""
    with rt.unit_of_work() as session:
        requeued = reap_stale_jobs(session, settings=rt.settings)
        sent = session.execute(select(TrainingJob.id, TrainingJob.priority)
                               .where(TrainingJob.id.in_(requeued)).order_by(TrainingJob.id)).all() if requeued else []
    reason = deliver(rt, [tuple(row) for row in sent])
    if reason is not None:
        log.warning("reaper: %s; those jobs are failed", reason)
    return requeued


def cancel(rt: Runtime, *, job_id: int) -> JobRead:
    """Cancel a queued job now, or ask a running one to stop at its next batch."""
    with rt.unit_of_work() as session:
        return JobRead.model_validate(cancel_job(session, job_id=job_id))


def read_job(rt: Runtime, *, job_id: int) -> JobRead:
    """One job with its progress and loss history."""
    with rt.reading() as session:
        return JobRead.model_validate(get_job(session, job_id=job_id))


def read_jobs(rt: Runtime, *, symbol: str | None = None, status: JobStatus | None = None,
              limit: int = 50, group: int | None = None) -> JobListRead:
    """Jobs, newest first, optionally for one ticker, one status and/or one training group."""
    with rt.reading() as session:
        jobs = list_jobs(session, symbol=symbol, status=status, limit=limit, group=group)
        return JobListRead(jobs=[JobRead.model_validate(j) for j in jobs])


def needing_training(rt: Runtime, *, symbols: list[str]) -> list[str]:
    """Those tickers with no active model, or one that does not cover their latest price."""
    out = []
    with rt.reading() as session:
        for symbol in symbols:
            latest = list_prices(session, symbol=symbol, limit=1)
            active = find_active(session, ticker_id=get_ticker(session, symbol=symbol).id)
            if active is None or not latest or active.data_end_ts != latest[-1].ts:
                out.append(symbol)
    return out
