"""Job consumers: the standalone `pricecast worker` (process workers) and the one embedded in `serve`."""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import socket
import threading

from huey.consumer import Consumer
from sqlalchemy.orm import Session, sessionmaker

from service.grouptraining import is_queued
from service.logs import configure_logging
from service.settings import Settings
from service.usecases.runtime import Runtime, build_runtime
from service.usecases.training import reap, run_job

log = logging.getLogger("pricecast.worker")
_runtimes: dict[tuple[int, str], Runtime] = {}


def process_runtime(settings: Settings) -> Runtime:
    """A runtime owned by this process (engines must not cross a fork)."""
    key = (os.getpid(), settings.db_url)
    if key not in _runtimes:
        _runtimes[key] = build_runtime(settings)
    return _runtimes[key]


_TOKEN = secrets.token_hex(3)  # container PIDs repeat across hosts that share a hostname


def worker_id() -> str:
    """host-token:pid, unique per worker process."""
    return f"{socket.gethostname()}-{_TOKEN}:{os.getpid()}"


def execute_here(settings: Settings, job_id: int) -> str | None:
    """Run a job in this process (standalone worker processes)."""
    return run_job(process_runtime(settings), job_id=job_id, worker_id=worker_id())


def _child(settings: Settings, job_id: int) -> None:
    configure_logging(settings)
    execute_here(settings, job_id)


def execute_in_child(settings: Settings, job_id: int, sessions: sessionmaker[Session] | None = None) -> None:
    """Run a job in a fresh child process (the embedded consumer), so training never holds the API's GIL."""
    if not is_queued(sessions or process_runtime(settings).sessions, job_id):
        return  # claimed already, by a group or another worker: no process to start
    ctx = multiprocessing.get_context("forkserver")
    child = ctx.Process(target=_child, args=(settings, job_id), name=f"pricecast-job-{job_id}", daemon=True)
    child.start()
    child.join()
    if child.exitcode != 0:
        log.error("job %s: training process exited with code %s; the reaper will re-queue it", job_id, child.exitcode)


def _noop() -> None:
    pass


class Reaper(threading.Thread):
    """Periodically re-queue jobs whose worker went silent."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(name="pricecast-reaper", daemon=True)
        self.runtime = runtime
        self.stopped = threading.Event()

    def reap_once(self) -> list[int]:
        return reap(self.runtime)

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        while not self.stopped.wait(self.runtime.settings.job_reap_interval):
            try:
                self.reap_once()
            except Exception as exc:  # noqa: BLE001 - the database may be down for a while
                log.warning("reaper: %s", exc)


class QuietConsumer(Consumer):
    """A huey consumer that leaves signal handling to its host (uvicorn, or our worker command)."""

    def _set_signal_handlers(self) -> None:
        pass




class EmbeddedWorker:
    """The consumer inside `pricecast serve`: PRICECAST_WORKERS threads, each running a job (or a group) in a child."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if settings.embedded_training == "thread":
            runtime.queue.execute = lambda job_id: execute_here(settings, job_id)
        else:
            runtime.queue.execute = lambda job_id: execute_in_child(settings, job_id, runtime.sessions)
        # Thread workers that each wait on a training child: one child per core by default.
        self.consumer = QuietConsumer(runtime.queue.huey, workers=settings.embedded_workers, worker_type="thread", periodic=False,
                                      initial_delay=0.01, max_delay=0.5, backoff=1.15, check_worker_health=True,
                                      health_check_interval=5)
        self.reaper = Reaper(runtime)

    def start(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["service.worker", "models.train"])
        # Start the fork server (it imports torch once) now, so the first job starts within a second.
        threading.Thread(target=lambda: ctx.Process(target=_noop).start(), daemon=True).start()
        self.consumer.start()
        self.reaper.start()

    def stop(self) -> None:
        self.reaper.stopped.set()
        self.consumer.stop(graceful=True)


def run_worker(runtime: Runtime, *, workers: int) -> None:
    """The standalone worker: `workers` processes, each running jobs one at a time, plus a reaper."""
    settings = runtime.settings
    runtime.queue.execute = lambda job_id: execute_here(settings, job_id)
    consumer = Consumer(runtime.queue.huey, workers=workers, worker_type="process", periodic=False,
                        initial_delay=0.01, max_delay=0.5, backoff=1.15, health_check_interval=5)
    reaper = Reaper(runtime)
    reaper.start()
    log.info("pricecast worker: %d process(es), queue %s", workers, settings.queue.split("@")[-1])
    consumer.run()
    reaper.stopped.set()
