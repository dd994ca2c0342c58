"""Training jobs: submit, run (the same code for the CLI, the embedded consumer and workers), cancel, reap."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import torch
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.errors import ConfigError, TrainingFailed, TrainingStopped
from models.errors import InsufficientData as ModelInsufficientData
from models.lstm import LSTMConfig
from models.train import Cost, EpochInfo, data_sha256, estimate_cost, min_rows, train
from service.db import read_only_sessions, utcnow
from service.errors import Conflict, InvalidInput, NotFound, QueueFull, SeriesTooShort, TooCostly
from service.pricearrays import load_price_array
from service.registry import StoredCheckpoint, discard_checkpoint, register_model, save_checkpoint
from service.series import get_ticker
from service.settings import Settings
from service.tables import OPEN_JOB_STATUSES, JobStatus, PricePoint, Ticker, TrainingJob

log = logging.getLogger("pricecast.jobs")
TRAIN_FIELDS = ("window", "hidden_size", "layers", "dropout", "epochs", "patience", "batch_size", "lr")
PRIORITY_SINGLE, PRIORITY_BULK = 10, 0
SEED_MAX = 2**31 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def parse_params(params: dict[str, Any] | None) -> tuple[LSTMConfig, int]:
    """Validate training params against the core's bounds; return (config, seed)."""
    params = dict(params or {})
    unknown = sorted(set(params) - {*TRAIN_FIELDS, "seed"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown training parameter; allowed: {', '.join((*TRAIN_FIELDS, 'seed'))}",
                           details={"field": unknown[0]})
    seed = params.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise InvalidInput(f"seed={seed!r}: must be an integer between 0 and {SEED_MAX}",
                           details={"field": "seed", "value": seed})
    try:
        config = LSTMConfig.from_dict(params).validate()
    except ConfigError as exc:
        field = str(exc).split("=", 1)[0]
        raise InvalidInput(str(exc), details={"field": field, "value": params.get(field)}) from None
    return config, seed


# Parameters that drive a run's cost, in the order a message suggests lowering them.
COST_FIELDS = ("batch_size", "window", "hidden_size", "layers")
STOP_POLL_SECONDS = 0.5  # how often a running job reads its cancel flag between batches


def _gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def _heaviest(rows: int, config: LSTMConfig, measure: Callable[[Cost], float]) -> str:
    """The cost parameter whose default would lower this estimate the most (the one to name)."""
    base, defaults, best, field = measure(estimate_cost(rows, config)), LSTMConfig(), 1.0, "window"
    for name in COST_FIELDS:
        if getattr(config, name) == getattr(defaults, name):
            continue
        ratio = base / max(measure(estimate_cost(rows, replace(config, **{name: getattr(defaults, name)}))), 1e-12)
        if ratio > best:
            best, field = ratio, name
    return field


def check_cost(settings: Settings, *, symbol: str, rows: int, config: LSTMConfig) -> Cost:
    """Refuse a run whose estimated memory or epoch time exceeds the limits, before it starts.

    The estimate (models.train.estimate_cost) is calibrated against measured runs; the message
    names the parameter whose default would help most, the estimate and the setting it exceeds.
    """
    cost = estimate_cost(rows, config)
    used = ", ".join(f"{k}={getattr(config, k)}" for k in COST_FIELDS)
    if cost.peak_bytes > settings.max_train_memory:
        field = _heaviest(rows, config, lambda c: c.peak_bytes)
        raise TooCostly(
            f"{field}={getattr(config, field)}: training {symbol} ({rows} prices, {used}) would need about "
            f"{_gib(cost.peak_bytes)} of memory, over PRICECAST_MAX_TRAIN_MEMORY={_gib(settings.max_train_memory)}; "
            f"lower {field}", details={"field": field, "value": getattr(config, field), "ticker": symbol,
                                       "estimate_bytes": cost.peak_bytes, "limit_bytes": settings.max_train_memory})
    if cost.seconds_per_epoch_estimate > settings.max_epoch_seconds:
        field = _heaviest(rows, config, lambda c: c.seconds_per_epoch_estimate)
        verb = "raise" if getattr(config, field) < getattr(LSTMConfig(), field) else "lower"
        raise TooCostly(
            f"{field}={getattr(config, field)}: one epoch of {symbol} ({rows} prices, {used}) would take about "
            f"{cost.seconds_per_epoch_estimate:.0f} s, "
            f"over PRICECAST_MAX_EPOCH_SECONDS={settings.max_epoch_seconds:g}; "
            f"{verb} {field}",
            details={"field": field, "value": getattr(config, field), "ticker": symbol,
                     "estimate_seconds": round(cost.seconds_per_epoch_estimate, 1),
                     "limit_seconds": settings.max_epoch_seconds})
    return cost


def _lock_ticker(session: Session, ticker: Ticker) -> None:
    session.execute(update(Ticker).where(Ticker.id == ticker.id).values(revision=Ticker.revision))


def lock_existing_tickers(session: Session, *, symbols: list[str]) -> None:
    """Lock these tickers' rows in symbol order, the one order every bulk operation takes them in
    (uploads too: store.lock_tickers).

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


class _Heartbeat(threading.Thread):
    """Touch the job's heartbeat_at while it runs, so reapers know this worker is alive."""

    def __init__(self, factory: sessionmaker[Session], job_id: int, attempt: int, interval: float) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.factory, self.job_id, self.attempt, self.interval = factory, job_id, attempt, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.factory() as s:
                    s.execute(update(TrainingJob).where(TrainingJob.id == self.job_id, TrainingJob.status == JobStatus.RUNNING,
                                                        TrainingJob.attempts == self.attempt)
                              .values(heartbeat_at=utcnow()))
                    s.commit()
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the reaper decides
                log.warning("heartbeat failed job_id=%s: %s", self.job_id, exc)


def _finish(factory: sessionmaker[Session], job_id: int, attempt: int, **values: Any) -> bool:
    """Set final fields if this attempt still owns the job; return whether it did."""
    with factory() as s:
        done = s.execute(update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == JobStatus.RUNNING,
                                                   TrainingJob.attempts == attempt)
                         .values(finished_at=utcnow(), heartbeat_at=utcnow(), **values)).rowcount
        s.commit()
    return bool(done)


def _release(factory: sessionmaker[Session], job_id: int, attempt: int) -> None:
    """The worker is being stopped mid-job: age the heartbeat so the next reaper pass re-queues it."""
    log.warning("job %s attempt %s interrupted; releasing it to the reaper", job_id, attempt)
    try:
        with factory() as s:
            s.execute(update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == JobStatus.RUNNING,
                                                TrainingJob.attempts == attempt)
                      .values(heartbeat_at=EPOCH, message="worker stopped mid-job; re-queued by the next reaper pass"))
            s.commit()
    except Exception as exc:  # noqa: BLE001 - the heartbeat timeout re-queues it anyway
        log.warning("job %s: could not release: %s", job_id, exc)


def requeue_interrupted(factory: sessionmaker[Session], job_id: int | None, *, attempt: int | None = None,
                        worker_suffix: str | None = None) -> bool:
    """The server is shutting down mid-job: put the job back in the queue; return whether it was ours.

    The attempt does not count (a shutdown is no failure of the job), and `heartbeat_at` (when a
    queued job was last sent) is aged so the next reaper pass, in any process, sends it again.
    job_id None: every running job of the worker named by worker_suffix (a killed group's members).
    """
    if job_id is None and worker_suffix is None:
        raise ValueError("requeue_interrupted needs a job id or a worker")
    where = [TrainingJob.status == JobStatus.RUNNING]
    if job_id is not None:
        where.append(TrainingJob.id == job_id)
    if attempt is not None:
        where.append(TrainingJob.attempts == attempt)
    if worker_suffix is not None:
        where.append(TrainingJob.worker_id.endswith(worker_suffix))
    try:
        with factory() as s:
            done = s.execute(update(TrainingJob).where(*where).values(
                status=JobStatus.QUEUED, attempts=TrainingJob.attempts - 1, worker_id=None, heartbeat_at=EPOCH,
                message="re-queued: the server shut down mid-job")).rowcount
            s.commit()
    except Exception as exc:  # noqa: BLE001 - the heartbeat timeout re-queues it anyway
        log.warning("job %s: could not re-queue: %s", job_id, exc)
        return False
    return bool(done)


class _StopCheck:
    """should_stop() for the training loop, called between batches: cancel, timeout, lost job, shutdown.

    The deadline and the shutdown flag are read on every call; the job row at most every
    STOP_POLL_SECONDS, in a reader session (it never waits for the write lock).
    """

    def __init__(self, factory: sessionmaker[Session], job_id: int, attempt: int, *, deadline: float,
                 interrupt: Callable[[], bool] | None) -> None:
        self.factory, self.job_id, self.attempt, self.deadline = factory, job_id, attempt, deadline
        self.interrupt, self.reasons, self.polled = interrupt, [], time.monotonic()

    def stop_for(self, reason: str) -> bool:
        if not self.reasons:
            self.reasons.append(reason)
        return True

    def row_says(self, *, owned: bool | None = None, cancel: bool | None = None) -> bool:
        """After reading the row: stop if it was re-queued elsewhere or a cancel was asked for."""
        self.polled = time.monotonic()
        if owned is None:
            with read_only_sessions(), self.factory() as s:
                row = s.execute(select(TrainingJob.status, TrainingJob.attempts, TrainingJob.cancel_requested)
                                .where(TrainingJob.id == self.job_id)).one_or_none()
            owned = row is not None and row[0] == JobStatus.RUNNING and row[1] == self.attempt
            cancel = bool(row and row[2])
        if not owned:
            return self.stop_for("lost")
        return self.stop_for("cancel") if cancel else False

    def __call__(self) -> bool:
        if self.reasons:
            return True
        if self.interrupt is not None and self.interrupt():
            return self.stop_for("shutdown")
        if time.monotonic() > self.deadline:
            return self.stop_for("timeout")
        if time.monotonic() - self.polled >= STOP_POLL_SECONDS:
            try:
                return self.row_says()
            except Exception as exc:  # noqa: BLE001 - the database may blink; the epoch's write decides
                log.warning("job %s: could not read its cancel flag: %s", self.job_id, exc)
        return False


def run_training(settings: Settings, factory: sessionmaker[Session], *, job_id: int, worker_id: str,
                 on_epoch: Callable[[EpochInfo], None] | None = None,
                 interrupt: Callable[[], bool] | None = None) -> str | None:
    """Claim a queued job, train, save the checkpoint, register the version; return the final status.

    Cancel, PRICECAST_JOB_TIMEOUT and `interrupt()` (the server is shutting down: the job goes
    back to the queue) are checked between batches.
    """
    with factory() as s:
        claimed = s.execute(update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == JobStatus.QUEUED)
                            .values(status=JobStatus.RUNNING, attempts=TrainingJob.attempts + 1, worker_id=worker_id,
                                    started_at=utcnow(), heartbeat_at=utcnow(), error=None)).rowcount
        s.commit()
        if not claimed:
            log.info("job %s not claimed: no longer queued", job_id)
            return None
        job = s.get(TrainingJob, job_id)
        attempt, ticker_id, symbol, params = job.attempts, job.ticker_id, job.ticker.symbol, dict(job.params)
        cancelled = job.cancel_requested
        if not cancelled:
            data = load_price_array(s, ticker_id=ticker_id)
            revision, born = job.ticker.revision, job.ticker.created_at
    if cancelled:  # cancelled while running, then re-queued (its worker died): the cancel stands
        _finish(factory, job_id, attempt, status=JobStatus.CANCELLED, message="cancelled; not run again after re-queueing")
        return JobStatus.CANCELLED
    ctx = {"job_id": job_id, "ticker": symbol, "attempt": attempt, "worker_id": worker_id}
    log.info("job %s started", job_id, extra={**ctx, "event": "job_started"})
    torch.set_num_threads(settings.torch_threads)
    heartbeat = _Heartbeat(factory, job_id, attempt, settings.heartbeat_interval)
    heartbeat.start()
    started = time.monotonic()
    history: list[dict] = []
    should_stop = _StopCheck(factory, job_id, attempt, deadline=started + settings.job_timeout, interrupt=interrupt)
    stop_reason = should_stop.reasons

    def epoch_done(info: EpochInfo) -> bool:
        history.append({"epoch": info.epoch, "train_loss": info.train_loss, "val_loss": info.val_loss})
        eta = info.elapsed_s / info.epoch * (info.max_epochs - info.epoch)
        progress = {"epoch": info.epoch, "max_epochs": info.max_epochs, "train_loss": info.train_loss,
                    "val_loss": info.val_loss, "elapsed_s": round(time.monotonic() - started, 3),
                    "eta_s": round(eta, 3)}
        with factory() as s:
            owned = s.execute(update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == JobStatus.RUNNING,
                                                        TrainingJob.attempts == attempt)
                              .values(progress=progress, history=list(history), heartbeat_at=utcnow())).rowcount
            cancel = s.scalar(select(TrainingJob.cancel_requested).where(TrainingJob.id == job_id))
            s.commit()
        if on_epoch is not None:
            on_epoch(info)
        return should_stop.row_says(owned=bool(owned), cancel=bool(cancel)) or should_stop()

    try:
        config, seed = parse_params(params)
        check_cost(settings, symbol=symbol, rows=int(data.prices.size), config=config)  # it may have grown since
        result = train(data.prices, config, seed=seed, dates=data.dates, price_field=data.price_field,
                       on_epoch=epoch_done, should_stop=should_stop, slots=data.slots, n_slots=data.n_slots)
        status = store_result(settings, factory, job_id=job_id, attempt=attempt, ticker_id=ticker_id, result=result,
                              data=data, revision=revision, started=started, owner=(ticker_id, symbol, born))
        log.info("job %s %s", job_id, status or "lost", extra={**ctx, "event": f"job_{status or 'lost'}"})
        return status
    except TrainingStopped:
        reason = stop_reason[0] if stop_reason else "cancel"
        log.info("job %s stopped: %s", job_id, reason, extra={**ctx, "event": f"job_stopped_{reason}"})
        if reason == "cancel":
            _finish(factory, job_id, attempt, status=JobStatus.CANCELLED, message="cancelled while running; nothing registered")
            return JobStatus.CANCELLED
        if reason == "timeout":
            _finish(factory, job_id, attempt, status=JobStatus.FAILED,
                    error=f"exceeded PRICECAST_JOB_TIMEOUT={settings.job_timeout:g}s; nothing registered")
            return JobStatus.FAILED
        if reason == "shutdown":
            requeue_interrupted(factory, job_id, attempt=attempt)
            return None
        log.warning("job %s attempt %s lost ownership (re-queued elsewhere); stopping", job_id, attempt)
        return None
    except (InvalidInput, ModelInsufficientData, ConfigError, TrainingFailed) as exc:
        log.warning("job %s failed: %s", job_id, exc, extra={**ctx, "event": "job_failed"})
        _finish(factory, job_id, attempt, status=JobStatus.FAILED, error=str(getattr(exc, "message", exc)))
        return JobStatus.FAILED
    except OSError as exc:
        log.error("job %s failed writing its checkpoint: %s", job_id, exc, extra={**ctx, "event": "job_failed"})
        _finish(factory, job_id, attempt, status=JobStatus.FAILED,
                error=f"could not write the checkpoint under {settings.checkpoint_dir}: {exc.strerror or exc}")
        return JobStatus.FAILED
    except Exception as exc:
        log.exception("job %s failed", job_id, extra={**ctx, "event": "job_failed"})
        _finish(factory, job_id, attempt, status=JobStatus.FAILED, error=f"unexpected {type(exc).__name__}: {exc}")
        return JobStatus.FAILED
    except BaseException:
        _release(factory, job_id, attempt)
        raise
    finally:
        heartbeat.stopped.set()


def trained_data_changed(session: Session, *, ticker: Ticker, owner: tuple[int, str, datetime], revision: int,
                         result: Any, data: Any) -> str | None:
    """Why a model may not be registered for this ticker row (None: it may).

    It must be the same row (id, symbol, creation time) whose prices trained it, and those prices
    must still be its first prices (new ones may have been added after them): same times, same
    data hash. Ids are never reused (migration 0006), and this check holds even where one was.
    """
    ticker_id, symbol, born = owner
    if (ticker.id, ticker.symbol, ticker.created_at) != (ticker_id, symbol, born):
        return f"ticker {symbol} (id {ticker_id}) was deleted while the job ran; its row is another series now"
    if ticker.revision == revision:
        return None
    now = load_price_array(session, ticker_id=ticker.id, price_field=result.price_field)
    n = int(result.n_rows)
    if now.prices.size < n or not np.array_equal(now.ts[:n], data.ts) or data_sha256(now.prices[:n]) != result.data_sha256:
        return (f"the prices of {symbol} were replaced or changed while the job trained (the {n} prices it trained on "
                f"are no longer the series' first {n}, data_sha256 {result.data_sha256[:12]}...)")
    return None


def store_result(settings: Settings, factory: sessionmaker[Session], *, job_id: int, attempt: int, ticker_id: int,
                 result: Any, data: Any, revision: int, started: float,
                 owner: tuple[int, str, datetime]) -> str | None:
    """Save a trained result's checkpoint and register it as the job's version (None: the job is no longer ours)."""
    stored = save_checkpoint(settings, result, ticker_id=ticker_id, job_id=job_id, attempt=attempt)
    return _register(settings, factory, job_id=job_id, attempt=attempt, result=result, stored=stored,
                     data=data, revision=revision, started=started, owner=owner)


def _register(settings: Settings, factory: sessionmaker[Session], *, job_id: int, attempt: int, result: Any,
              stored: StoredCheckpoint, data: Any, revision: int, started: float,
              owner: tuple[int, str, datetime]) -> str | None:
    """Register the checkpoint and finish the job in one transaction.

    The database store inserts the checkpoint's bytes in this transaction; the file store wrote
    its file first, so a crash leaves at worst an orphan file, never a row without its file.
    A model is registered only for the ticker row whose data trained it (trained_data_changed);
    otherwise the job fails saying why, and the checkpoint goes.
    """
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        if job is None or job.status != JobStatus.RUNNING or job.attempts != attempt:
            discard_checkpoint(settings, stored)  # cancelled-and-deleted or re-queued: nothing half-done is registered
            return None
        _lock_ticker(s, job.ticker)
        why = trained_data_changed(s, ticker=job.ticker, owner=owner, revision=revision, result=result, data=data)
        if why is not None:
            log.warning("job %s: not registered: %s", job_id, why)
            job.status, job.finished_at, job.heartbeat_at = JobStatus.FAILED, utcnow(), utcnow()
            job.error = f"{why}; nothing registered: train again"
            s.commit()
            discard_checkpoint(settings, stored)
            return JobStatus.FAILED
        version = register_model(s, settings=settings, ticker=job.ticker, result=result, checkpoint_path=stored.path,
                                 checkpoint_sha256=stored.sha256, checkpoint_data=stored.data, job_id=job_id,
                                 data=data, data_revision=revision)
        job.status, job.finished_at, job.heartbeat_at = JobStatus.SUCCEEDED, utcnow(), utcnow()
        job.model_version_id = version.id
        job.message = f"version {version.version}: {version.promotion}"
        job.progress = {**job.progress, "elapsed_s": round(time.monotonic() - started, 3), "eta_s": 0.0}
        s.commit()
    return JobStatus.SUCCEEDED


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
