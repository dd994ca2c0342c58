"""Training jobs: submit one (its queue priority, its ticker's lock, the queue cap), read, cancel, reap stale ones."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models.train import min_rows
from service.db import utcnow
from service.errors import Conflict, NotFound, QueueFull, SeriesTooShort
from service.series import get_ticker
from service.settings import Settings
from service.tables import OPEN_JOB_STATUSES, JobStatus, PricePoint, Ticker, TrainingJob
from service.training.params import TRAIN_FIELDS, check_cost, parse_params

log = logging.getLogger("pricecast.jobs")
PRIORITY_SINGLE, PRIORITY_BULK = 10, 0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # heartbeat_at of a job let go mid-run: the next reaper pass takes it


class Origin(StrEnum):
    """Why a job was asked for. It decides the job's place in the queue: the one priority rule."""

    SINGLE = "single"  # one ticker asked for by name: someone is waiting for it
    BULK = "bulk"  # several tickers, every ticker, or the stale ones
    RETRAIN = "retrain"  # queued by an upload that took the ticker PRICECAST_RETRAIN_AFTER prices past its model


def priority_of(origin: Origin) -> int:
    """The queue priority of a job (higher first): single-ticker requests go ahead of bulk work.

    It is stored on the job row; every delivery (the request's, `pricecast train --queue`, the
    reaper's re-queue) sends the row's priority, so a job keeps its place however it is sent.
    """
    return PRIORITY_SINGLE if origin is Origin.SINGLE else PRIORITY_BULK


def origin_of(*, tickers: list[str] | None) -> Origin:
    """A request that names exactly one ticker is a single request; several, all or stale are bulk."""
    return Origin.SINGLE if tickers is not None and len(set(tickers)) == 1 else Origin.BULK


def _lock_ticker(session: Session, ticker: Ticker) -> None:
    session.execute(update(Ticker).where(Ticker.id == ticker.id).values(revision=Ticker.revision))


def lock_existing_tickers(session: Session, *, symbols: list[str]) -> None:
    """Lock these tickers' rows in symbol order, the one order every bulk operation takes them in
    (uploads too: series.lock_tickers).

    Two requests that each lock many tickers one by one, in their own orders, deadlock on
    Postgres; locked up front in one order, the second waits for the first. (SQLite: the unit of
    work holds the database's write lock already.)
    """
    if symbols and session.get_bind().dialect.name == "postgresql":
        session.execute(select(Ticker.id).where(Ticker.symbol.in_(sorted(set(symbols)))).order_by(Ticker.symbol)
                        .with_for_update(key_share=True))


QUEUE_LOCK = 0x70726963  # "pric": the advisory lock that serialises "count queued jobs, then add one"


def _lock_queue(session: Session) -> None:
    """Hold the queue cap's lock until this transaction ends, so the count below stays true when
    the job is added: on Postgres an advisory transaction lock shared by every API process (without
    it, two processes each counted 9 and both added); SQLite's write lock serialises already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(QUEUE_LOCK)))


def find_open_job(session: Session, *, ticker_id: int) -> TrainingJob | None:
    """The queued or running job of a ticker, if any."""
    return session.scalar(select(TrainingJob).where(TrainingJob.ticker_id == ticker_id,
                                                    TrainingJob.status.in_(OPEN_JOB_STATUSES))
                          .order_by(TrainingJob.id.desc()).limit(1))


def submit_training(session: Session, *, settings: Settings, symbol: str, params: dict | None = None,
                    origin: Origin = Origin.SINGLE) -> tuple[TrainingJob, bool]:
    """Queue a training job for a ticker; return (job, created). An open job is returned instead."""
    ticker = get_ticker(session, symbol=symbol)
    _lock_ticker(session, ticker)
    existing = find_open_job(session, ticker_id=ticker.id)
    if existing is not None:
        return existing, False
    config, seed = parse_params(params)
    rows = session.scalar(select(func.count()).where(PricePoint.ticker_id == ticker.id)) or 0
    needed = min_rows(config)
    if rows < needed:
        raise SeriesTooShort(
            f"{symbol} has {rows} prices; window={config.window} with the default split "
            f"(test 20%, validation 10% of the rest) needs at least {needed}",
            details={"ticker": symbol, "needed": needed, "available": rows, "window": config.window})
    check_cost(settings, symbol=symbol, rows=rows, config=config)
    _lock_queue(session)  # after the ticker's lock, never before: one order for both
    queued = session.scalar(select(func.count()).where(TrainingJob.status == JobStatus.QUEUED)) or 0
    if queued >= settings.max_queued_jobs:
        raise QueueFull(f"{queued} jobs are queued (PRICECAST_MAX_QUEUED_JOBS={settings.max_queued_jobs}); "
                        "retry when some have finished", details={"queued": queued}, headers={"Retry-After": "30"})
    job = TrainingJob(ticker_id=ticker.id, status=JobStatus.QUEUED, priority=priority_of(origin), attempts=0,
                      cancel_requested=False,
                      heartbeat_at=utcnow(),  # while queued: when it was last sent to the queue
                      params={**{k: getattr(config, k) for k in TRAIN_FIELDS}, "seed": seed},
                      progress={"epoch": 0, "max_epochs": config.epochs}, history=[])
    session.add(job)
    session.flush()
    return job, True


def get_job(session: Session, *, job_id: int) -> TrainingJob:
    """One job, or NotFound."""
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found", details={"job_id": job_id})
    return job


def list_jobs(session: Session, *, symbol: str | None = None, status: str | None = None,
              limit: int = 50, group: int | None = None) -> list[TrainingJob]:
    """Jobs, newest first, optionally for one ticker, one status and/or one training group."""
    query = select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)
    if group is not None:  # service/grouptraining.py names a group by its first job's id
        query = query.where(TrainingJob.progress["group"].as_integer() == group)
    if symbol is not None:
        query = query.where(TrainingJob.ticker_id == get_ticker(session, symbol=symbol).id)
    if status is not None:
        query = query.where(TrainingJob.status == status)
    return list(session.scalars(query))


def cancel_job(session: Session, *, job_id: int) -> TrainingJob:
    """Cancel a queued job now, or ask a running one to stop at its next batch (it keeps the request if re-queued)."""
    job = get_job(session, job_id=job_id)
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at, job.message = JobStatus.CANCELLED, utcnow(), "cancelled before it started"
    elif job.status == JobStatus.RUNNING:
        job.cancel_requested = True
    else:
        raise Conflict(f"job {job_id} is already {job.status}; only queued or running jobs can be cancelled",
                       details={"job_id": job_id, "status": job.status})
    session.flush()
    return job


def reap_stale_jobs(session: Session, *, settings: Settings) -> list[int]:
    """Re-queue running jobs whose heartbeat is older than the timeout (or fail them after max attempts).

    A job whose cancel was asked for is cancelled instead: a cancel survives its worker's death.
    """
    cutoff = utcnow() - timedelta(seconds=settings.job_heartbeat_timeout)
    stale = session.execute(select(TrainingJob.id, TrainingJob.attempts, TrainingJob.worker_id,
                                   TrainingJob.heartbeat_at, TrainingJob.cancel_requested)
                            .where(TrainingJob.status == JobStatus.RUNNING, TrainingJob.heartbeat_at < cutoff)
                            .order_by(TrainingJob.id)).all()
    requeued = []
    for job_id, attempts, worker, beat, cancel in stale:
        same = (TrainingJob.id == job_id, TrainingJob.status == JobStatus.RUNNING, TrainingJob.attempts == attempts)
        silent = (f"worker {worker} was stopped mid-job and released it" if beat == EPOCH else
                  f"worker {worker} stopped sending heartbeats (last {beat:%Y-%m-%dT%H:%M:%SZ})")
        if cancel:
            session.execute(update(TrainingJob).where(*same).values(
                status=JobStatus.CANCELLED, finished_at=utcnow(),
                message=f"cancelled while running; {silent}; nothing registered"))
        elif attempts >= settings.job_max_attempts:
            session.execute(update(TrainingJob).where(*same).values(
                status=JobStatus.FAILED, finished_at=utcnow(),
                error=f"{silent}; gave up after {attempts} attempts (PRICECAST_JOB_MAX_ATTEMPTS)"))
        elif session.execute(update(TrainingJob).where(*same).values(
                status=JobStatus.QUEUED, worker_id=None, heartbeat_at=utcnow(), message=f"re-queued: {silent}")).rowcount:
            requeued.append(job_id)
    # A queued job whose message the broker lost (Redis restarted without its data) would wait
    # forever: send it again. A duplicate delivery is harmless, only one worker can claim it.
    lost = utcnow() - timedelta(seconds=settings.job_redeliver_after)
    for job_id, sent in session.execute(select(TrainingJob.id, TrainingJob.heartbeat_at).where(
            TrainingJob.status == JobStatus.QUEUED, TrainingJob.heartbeat_at < lost)).all():
        if session.execute(update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == JobStatus.QUEUED,
                                                     TrainingJob.heartbeat_at == sent)
                           .values(heartbeat_at=utcnow())).rowcount:
            requeued.append(job_id)
    session.flush()
    if requeued or stale:
        log.warning("reaper: %d stale running job(s); sent again: %s", len(stale), requeued)
    return requeued
