"""Bulk jobs trained together: claim a group of queued jobs, fit their models as one stack, register each.

A bulk request makes one job row per ticker, as before; what changes is how a worker runs them.
The worker that receives a bulk job claims it together with up to PRICECAST_TRAIN_GROUP_SIZE - 1
other queued bulk jobs of the same parameters, oldest first, in one transaction: on Postgres the
others with FOR UPDATE SKIP LOCKED, so two workers never wait on or take the same rows; on SQLite
the claim is one write transaction. Its own job is locked and waited for, not skipped: another
worker's claim may hold it only as a candidate, and it is taken here once that claim commits
without it. The group fits its models with models.train.fit_many, then finishes, saves and
registers each one on its own. Every member keeps its own row: progress, history, cancel,
result. The group is visible in each member's progress: {"group": leader job id, "group_size": n}.

A member cancelled while it runs leaves the group at its next epoch; a member whose data cannot
train fails alone; one that loses ownership (the reaper re-queued it) is dropped. Single-ticker
jobs never join a group: they keep their queue priority and run alone (service/training/runner.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models.errors import ConfigError, TrainingFailed, TrainingStopped
from models.errors import InsufficientData as ModelInsufficientData
from models.stacked import StackEpoch
from models.train import Prepared, finish, fit_many, prepare
from service.db import read_only_sessions, utcnow
from service.errors import InvalidInput
from service.pricearrays import load_price_array
from service.settings import Settings
from service.tables import JobStatus, TrainingJob
from service.training.jobs import PRIORITY_BULK
from service.training.params import check_cost, parse_params
from service.training.runner import STOP_POLL_SECONDS, _finish, _release, requeue_interrupted, store_result

log = logging.getLogger("pricecast.jobs")
CANDIDATES_PER_SLOT = 4  # queued rows read per free group place: enough to find compatible ones


@dataclass
class Member:
    """One claimed job of a group."""

    job_id: int
    attempt: int
    ticker_id: int
    symbol: str
    revision: int
    born: Any  # the ticker row's created_at: a model registers only for the row whose data trained it
    params: dict
    data: Any
    cancelled: bool = False  # cancelled before this claim (then re-queued when its worker died): never trained
    history: list[dict] = field(default_factory=list)
    progress: dict | None = None  # the latest epoch's, not yet written
    stop: str | None = None  # why it leaves the group: cancel, lost, timeout, shutdown


def is_queued(factory: sessionmaker[Session], job_id: int) -> bool:
    """Whether a job still waits for a worker (a grouped job's own message finds it taken)."""
    with factory() as s:
        return s.scalar(select(TrainingJob.status).where(TrainingJob.id == job_id)) == JobStatus.QUEUED


def is_groupable(factory: sessionmaker[Session], job_id: int) -> bool:
    """A queued bulk job: the kind that trains in a group."""
    with factory() as s:
        row = s.execute(select(TrainingJob.status, TrainingJob.priority).where(TrainingJob.id == job_id)).first()
    return row is not None and row.status == JobStatus.QUEUED and row.priority == PRIORITY_BULK


def claim_group(settings: Settings, factory: sessionmaker[Session], *, job_id: int, worker_id: str,
                size: int) -> list[Member]:
    """Claim this queued bulk job and up to size - 1 others with the same params, in one transaction."""
    with factory() as s:
        leader = s.execute(select(TrainingJob.params).where(TrainingJob.id == job_id,
                                                            TrainingJob.status == JobStatus.QUEUED,
                                                            TrainingJob.priority == PRIORITY_BULK)
                           .with_for_update()).first()  # waits while another claim holds it, then sees its status
        if leader is None:
            return []
        query = (select(TrainingJob.id, TrainingJob.params)
                 .where(TrainingJob.status == JobStatus.QUEUED, TrainingJob.priority == PRIORITY_BULK,
                        TrainingJob.id != job_id)
                 .order_by(TrainingJob.id).limit(max(0, size - 1) * CANDIDATES_PER_SLOT))
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        others = [i for i, params in s.execute(query).all() if params == leader.params][: size - 1]
        claimed = []
        for i in [job_id, *others]:
            done = s.execute(update(TrainingJob).where(TrainingJob.id == i, TrainingJob.status == JobStatus.QUEUED)
                             .values(status=JobStatus.RUNNING, attempts=TrainingJob.attempts + 1, worker_id=worker_id,
                                     started_at=utcnow(), heartbeat_at=utcnow(), error=None)).rowcount
            if done:
                claimed.append(i)
        for i in claimed:  # the group's name on each member, as the job API shows it
            job = s.get(TrainingJob, i)
            job.progress = {**(job.progress or {}), "group": job_id, "group_size": len(claimed)}
        s.commit()
        members = []
        for i in claimed:
            job = s.get(TrainingJob, i)
            cancelled = bool(job.cancel_requested)  # the cancel stands across re-queueing (issue 13 row 9)
            members.append(Member(i, job.attempts, job.ticker_id, job.ticker.symbol, job.ticker.revision,
                                  job.ticker.created_at, dict(job.params),
                                  None if cancelled else load_price_array(s, ticker_id=job.ticker_id),
                                  cancelled=cancelled))
    return members


class _GroupHeartbeat(threading.Thread):
    """Touch every running member's heartbeat_at, so reapers know this worker is alive."""

    def __init__(self, factory: sessionmaker[Session], members: list[Member], interval: float) -> None:
        super().__init__(name=f"heartbeat-group-{members[0].job_id}", daemon=True)
        self.factory, self.members, self.interval = factory, members, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.factory() as s:
                    for m in self.members:
                        s.execute(update(TrainingJob).where(TrainingJob.id == m.job_id,
                                                            TrainingJob.status == JobStatus.RUNNING,
                                                            TrainingJob.attempts == m.attempt)
                                  .values(heartbeat_at=utcnow()))
                    s.commit()
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the reaper decides
                log.warning("heartbeat failed for group %s: %s", self.members[0].job_id, exc)


def _write_progress(factory: sessionmaker[Session], members: list[Member]) -> None:
    """Write the members' pending progress in one transaction; mark cancelled and lost ones."""
    pending = [m for m in members if m.progress is not None and m.stop is None]
    if not pending:
        return
    with factory() as s:
        for m in pending:
            owned = s.execute(update(TrainingJob).where(TrainingJob.id == m.job_id,
                                                        TrainingJob.status == JobStatus.RUNNING,
                                                        TrainingJob.attempts == m.attempt)
                              .values(progress=m.progress, history=list(m.history), heartbeat_at=utcnow())).rowcount
            if not owned:
                m.stop = "lost"
            m.progress = None
        ids = [m.job_id for m in pending if m.stop is None]
        cancelled = set(s.scalars(select(TrainingJob.id).where(TrainingJob.id.in_(ids),
                                                               TrainingJob.cancel_requested.is_(True)))) if ids else set()
        s.commit()
    for m in pending:
        if m.job_id in cancelled:
            m.stop = "cancel"


def _poll_cancels(factory: sessionmaker[Session], members: list[Member]) -> None:
    """Between batches: read the members' cancel flags and ownership in one reader query."""
    try:
        with read_only_sessions(), factory() as s:
            rows = {i: (st, a, c) for i, st, a, c in s.execute(
                select(TrainingJob.id, TrainingJob.status, TrainingJob.attempts, TrainingJob.cancel_requested)
                .where(TrainingJob.id.in_([m.job_id for m in members]))).all()}
    except Exception as exc:  # noqa: BLE001 - the database may blink; the epoch's write decides
        log.warning("group %s: could not read its cancel flags: %s", members[0].job_id, exc)
        return
    for m in members:
        st, attempt, cancel = rows.get(m.job_id, (None, None, False))
        if st != JobStatus.RUNNING or attempt != m.attempt:
            m.stop = "lost"
        elif cancel:
            m.stop = "cancel"


def run_group(settings: Settings, factory: sessionmaker[Session], *, job_id: int, worker_id: str,
              interrupt: Callable[[], bool] | None = None) -> str | None:
    """Claim a group around this bulk job and train it; return this job's final status (None: not claimed).

    Between batches: interrupt() (the process shuts down) re-queues every member; PRICECAST_JOB_TIMEOUT
    fails them; each member's cancel flag is read at most every STOP_POLL_SECONDS.
    """
    members = claim_group(settings, factory, job_id=job_id, worker_id=worker_id, size=settings.train_group_size)
    if not members:
        log.info("job %s not claimed: no longer queued", job_id)
        return None
    group = {"group": job_id, "group_size": len(members)}
    log.info("group %s started: %d jobs", job_id, len(members),
             extra={"job_id": job_id, "worker_id": worker_id, "event": "group_started", **group})
    torch.set_num_threads(settings.torch_threads)
    heartbeat = _GroupHeartbeat(factory, members, settings.heartbeat_interval)
    heartbeat.start()
    started = time.monotonic()
    status: dict[int, str | None] = {}
    try:
        ready: list[tuple[Member, Prepared, int]] = []
        for m in members:
            if m.cancelled:
                _finish(factory, m.job_id, m.attempt, status=JobStatus.CANCELLED,
                        message="cancelled; not run again after re-queueing")
                status[m.job_id] = JobStatus.CANCELLED
                continue
            try:
                config, seed = parse_params(m.params)
                d = m.data
                check_cost(settings, symbol=m.symbol, rows=int(d.prices.size), config=config)  # it may have grown
                ready.append((m, prepare(d.prices, config, dates=d.dates, price_field=d.price_field, slots=d.slots,
                                         n_slots=d.n_slots), seed))
            except (InvalidInput, ModelInsufficientData, ConfigError) as exc:
                status[m.job_id] = _fail(factory, m, str(getattr(exc, "message", exc)))

        def on_epoch(e: StackEpoch) -> bool:
            m = ready[e.index][0]
            m.history.append({"epoch": e.epoch, "train_loss": e.train_loss, "val_loss": e.val_loss})
            eta = e.elapsed_s / e.epoch * (e.max_epochs - e.epoch)
            m.progress = {"epoch": e.epoch, "max_epochs": e.max_epochs, "train_loss": e.train_loss,
                          "val_loss": e.val_loss, "elapsed_s": round(time.monotonic() - started, 3),
                          "eta_s": round(eta, 3), **group}
            if m.stop is None and time.monotonic() - started > settings.job_timeout:
                m.stop = "timeout"
            return m.stop is not None

        polled = [time.monotonic()]

        def between_batches() -> bool:
            _write_progress(factory, members)  # at most once per epoch: progress is pending only then
            live = [m for m, _, _ in ready if m.stop is None]
            if interrupt is not None and interrupt():
                for m in live:
                    m.stop = "shutdown"
            elif time.monotonic() - started > settings.job_timeout:
                for m in live:
                    m.stop = "timeout"
            elif live and time.monotonic() - polled[0] >= STOP_POLL_SECONDS:
                polled[0] = time.monotonic()
                _poll_cancels(factory, live)
            return bool(ready) and all(m.stop is not None for m, _, _ in ready)

        try:
            fitted = fit_many([p for _, p, _ in ready], seeds=[seed for _, _, seed in ready], on_epoch=on_epoch,
                              should_stop=between_batches)
        except TrainingStopped as stopped:  # every member was stopped (shutdown, timeout, cancels): each says why
            fitted = [stopped] * len(ready)
        _write_progress(factory, members)
        for (m, prep, seed), f in zip(ready, fitted):
            status[m.job_id] = _complete(settings, factory, m, prep, seed, f, started)
    except Exception as exc:
        log.exception("group %s failed", job_id, extra={"job_id": job_id, "event": "group_failed", **group})
        for m in members:
            if m.job_id not in status:
                status[m.job_id] = _fail(factory, m, f"unexpected {type(exc).__name__}: {exc}")
    except BaseException:
        for m in members:
            if m.job_id not in status:
                _release(factory, m.job_id, m.attempt)
        raise
    finally:
        heartbeat.stopped.set()
    log.info("group %s finished in %.1fs: %s", job_id, time.monotonic() - started,
             {s: sum(1 for v in status.values() if v == s) for s in set(status.values())},
             extra={"job_id": job_id, "event": "group_finished", **group})
    return status.get(job_id)


def _fail(factory: sessionmaker[Session], m: Member, error: str) -> str:
    log.warning("job %s failed: %s", m.job_id, error, extra={"job_id": m.job_id, "ticker": m.symbol,
                                                              "event": "job_failed"})
    _finish(factory, m.job_id, m.attempt, status=JobStatus.FAILED, error=error)
    return JobStatus.FAILED


def _complete(settings: Settings, factory: sessionmaker[Session], m: Member, prep: Prepared, seed: int,
              fitted: Any, started: float) -> str | None:
    """One member's end: calibrate, save and register its model, or record why it stopped."""
    ctx = {"job_id": m.job_id, "ticker": m.symbol, "attempt": m.attempt}
    if isinstance(fitted, TrainingStopped) or m.stop is not None:
        if m.stop == "lost":
            log.warning("job %s attempt %s lost ownership (re-queued elsewhere); dropped", m.job_id, m.attempt)
            return None
        if m.stop == "shutdown":
            log.info("job %s stopped: shutdown; re-queued", m.job_id, extra={**ctx, "event": "job_stopped_shutdown"})
            requeue_interrupted(factory, m.job_id, attempt=m.attempt)
            return None
        if m.stop == "timeout":
            _finish(factory, m.job_id, m.attempt, status=JobStatus.FAILED,
                    error=f"exceeded PRICECAST_JOB_TIMEOUT={settings.job_timeout:g}s; nothing registered")
            return JobStatus.FAILED
        log.info("job %s stopped: cancel", m.job_id, extra={**ctx, "event": "job_stopped_cancel"})
        _finish(factory, m.job_id, m.attempt, status=JobStatus.CANCELLED,
                message="cancelled while running; nothing registered")
        return JobStatus.CANCELLED
    if isinstance(fitted, TrainingFailed):
        return _fail(factory, m, str(fitted))
    try:
        result = finish(prep, fitted, seed=seed)
        status = store_result(settings, factory, job_id=m.job_id, attempt=m.attempt, ticker_id=m.ticker_id,
                              result=result, data=m.data, revision=m.revision, started=started,
                              owner=(m.ticker_id, m.symbol, m.born))
    except OSError as exc:
        return _fail(factory, m, f"could not write the checkpoint under {settings.checkpoint_dir}: "
                                 f"{exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - one member's surprise must not take the group's results
        log.exception("job %s failed", m.job_id, extra={**ctx, "event": "job_failed"})
        return _fail(factory, m, f"unexpected {type(exc).__name__}: {exc}")
    log.info("job %s %s", m.job_id, status or "lost", extra={**ctx, "event": f"job_{status or 'lost'}"})
    return status
