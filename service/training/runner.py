"""Running a training job: the same code for the CLI, the embedded consumer and workers.

Claim it, train with its heartbeat beating, stop between batches on cancel, timeout, lost
ownership or shutdown, then save the checkpoint and register the version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import torch
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models.errors import ConfigError, TrainingFailed, TrainingStopped
from models.errors import InsufficientData as ModelInsufficientData
from models.train import EpochInfo, data_sha256, train
from service.db import read_only_sessions, utcnow
from service.errors import InvalidInput
from service.registry import StoredCheckpoint, discard_checkpoint, register_model, save_checkpoint
from service.pricearrays import load_price_array
from service.settings import Settings
from service.tables import JobStatus, Ticker, TrainingJob
from service.training.jobs import EPOCH, _lock_ticker
from service.training.params import check_cost, parse_params

log = logging.getLogger("pricecast.jobs")
STOP_POLL_SECONDS = 0.5  # how often a running job reads its cancel flag between batches


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
