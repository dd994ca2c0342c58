"""Job consumers: the standalone `pricecast worker` (process workers) and the one embedded in `serve`."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable

from huey.consumer import Consumer
from sqlalchemy.orm import Session, sessionmaker

from service.grouptraining import is_queued
from service.logs import configure_logging
from service.settings import Settings
from service.usecases.runtime import Runtime, build_runtime
from service.usecases.training import reap, requeue_interrupted, run_job

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


def execute_here(settings: Settings, job_id: int, interrupt: Callable[[], bool] | None = None) -> str | None:
    """Run a job in this process (standalone worker processes, the embedded consumer's thread mode)."""
    return run_job(process_runtime(settings), job_id=job_id, worker_id=worker_id(), interrupt=interrupt)


PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_SECONDS = 0.5
_interrupted = threading.Event()  # in a training child: SIGTERM came, or the server died


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel (a zombie then counts as alive)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _die_with_parent(settings: Settings, server_pid: int) -> None:
    """In a training child: stop when the server stops or dies, however it dies.

    SIGTERM (from the server's shutdown, or from the kernel when the parent dies: Linux'
    parent-death signal) asks the job to stop at its next batch and go back to the queue. A
    watchdog thread covers what the signal cannot (non-Linux, a parent that died before prctl):
    every 0.5 s it checks that the parent and the server still run. Whatever the job is doing,
    the child exits PRICECAST_SHUTDOWN_TIMEOUT seconds after it was asked to stop.
    """
    signal.signal(signal.SIGTERM, lambda *_: _interrupted.set())
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog alone
        pass
    parent = os.getppid()

    def watch() -> None:
        while not _interrupted.wait(WATCHDOG_SECONDS):
            if os.getppid() != parent or not _alive(server_pid):
                log.warning("training process %s: the server (pid %s) is gone; stopping", os.getpid(), server_pid)
                _interrupted.set()
        time.sleep(settings.shutdown_timeout)
        log.error("training process %s did not stop within PRICECAST_SHUTDOWN_TIMEOUT=%gs; exiting",
                  os.getpid(), settings.shutdown_timeout)
        os._exit(3)

    threading.Thread(target=watch, name="pricecast-watchdog", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the parent-death signal was set
        _interrupted.set()


def _child(settings: Settings, job_id: int, server_pid: int) -> None:
    _die_with_parent(settings, server_pid)
    configure_logging(settings)
    execute_here(settings, job_id, interrupt=_interrupted.is_set)


def execute_in_child(settings: Settings, job_id: int, sessions: sessionmaker[Session] | None = None, *,
                     stopping: threading.Event | None = None,
                     track: Callable[[multiprocessing.process.BaseProcess, bool], None] | None = None) -> None:
    """Run a job (or the group it leads) in a fresh child process (the embedded consumer), so training never holds
    the API's GIL.

    `stopping` set (the server shuts down): the child got SIGTERM and re-queues its jobs at the next
    batch; one that is still alive PRICECAST_SHUTDOWN_TIMEOUT seconds later is killed, and its jobs
    re-queued from here.
    """
    if not is_queued(sessions or process_runtime(settings).sessions, job_id):
        return  # claimed already, by a group or another worker: no process to start
    ctx = multiprocessing.get_context("forkserver")
    child = ctx.Process(target=_child, args=(settings, job_id, os.getpid()), name=f"pricecast-job-{job_id}",
                        daemon=True)
    child.start()
    if track is not None:
        track(child, True)
    try:
        while child.is_alive():
            child.join(WATCHDOG_SECONDS)
            if stopping is not None and stopping.is_set():
                child.join(settings.shutdown_timeout + 1.0)
                if child.is_alive():
                    log.error("job %s: training process %s ignored the shutdown; killing it", job_id, child.pid)
                    child.kill()
                    child.join()
                    requeue_interrupted(process_runtime(settings), job_id=None, worker_suffix=f":{child.pid}")
                break
    finally:
        if track is not None:
            track(child, False)
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
    """The consumer inside `pricecast serve`: PRICECAST_WORKERS threads, each running a job (or a group) in a child.

    stop() (SIGTERM, Ctrl-C) asks the running jobs to stop at their next batch; they go back to the
    queue, and stop() returns within PRICECAST_SHUTDOWN_TIMEOUT plus about a second.
    """

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.stopping = threading.Event()
        self.children: set[multiprocessing.process.BaseProcess] = set()  # one per busy consumer thread
        self.children_lock = threading.Lock()
        if settings.embedded_training == "thread":
            runtime.queue.execute = lambda job_id: execute_here(settings, job_id, interrupt=self.stopping.is_set)
        else:
            runtime.queue.execute = lambda job_id: execute_in_child(settings, job_id, runtime.sessions,
                                                                    stopping=self.stopping, track=self._track)
        # Thread workers that each wait on a training child: one child per core by default.
        self.consumer = QuietConsumer(runtime.queue.huey, workers=settings.embedded_workers, worker_type="thread",
                                      periodic=False,
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

    def _track(self, child: multiprocessing.process.BaseProcess, alive: bool) -> None:
        with self.children_lock:
            (self.children.add if alive else self.children.discard)(child)
        if alive and self.stopping.is_set():
            self._signal(child)

    @staticmethod
    def _signal(child: multiprocessing.process.BaseProcess) -> None:
        try:
            os.kill(child.pid, signal.SIGTERM)
        except (ProcessLookupError, TypeError):
            pass

    def stop(self) -> None:
        self.reaper.stopped.set()
        self.stopping.set()
        with self.children_lock:
            children = list(self.children)
        for child in children:
            self._signal(child)
        self.consumer.stop(graceful=True)


def _die_with_consumer(settings: Settings, huey: object, stop_flag: object, consumer_pid: int) -> None:
    """In a process huey forks for `pricecast worker` (workers, scheduler): exit when the consumer
    dies, even by kill -9.

    The parent-death signal is SIGTERM, which first sets the stop flag (no new task is taken; huey
    sends SIGTERM only when it stops its workers anyway), then huey's own handler interrupts a
    running task (its job is released to the reaper). A watchdog covers an idle process, huey's
    scheduler and a consumer that died before the prctl; the process exits once its task is
    released, at the latest PRICECAST_SHUTDOWN_TIMEOUT seconds after the consumer died.
    """
    huey_handler = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: object) -> None:
        stop_flag.set()  # type: ignore[attr-defined]
        if callable(huey_handler):
            huey_handler(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == consumer_pid:
            time.sleep(WATCHDOG_SECONDS)
        log.warning("worker process %s: its consumer (pid %s) is gone; exiting", os.getpid(), consumer_pid)
        stop_flag.set()  # type: ignore[attr-defined]
        deadline = time.monotonic() + settings.shutdown_timeout
        if getattr(huey, "_tasks_in_flight", None):
            os.kill(os.getpid(), signal.SIGTERM)  # interrupts the task: it releases its job
        while getattr(huey, "_tasks_in_flight", None) and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(3)

    threading.Thread(target=watch, name="pricecast-watchdog", daemon=True).start()


class GuardedConsumer(Consumer):
    """A huey consumer whose forked processes (workers and scheduler) die with it."""

    def __init__(self, huey: object, *, settings: Settings, **options: object) -> None:
        self.settings = settings  # before huey's __init__, which creates the processes
        super().__init__(huey, **options)

    def _create_process(self, process, name):  # noqa: ANN001, ANN202 - huey's signature
        settings, huey, consumer_pid, initialize = self.settings, self.huey, os.getpid(), process.initialize
        stop_flag = self.stop_flag

        def guarded() -> None:
            _die_with_consumer(settings, huey, stop_flag, consumer_pid)
            initialize()

        process.initialize = guarded
        return super()._create_process(process, name)


def run_worker(runtime: Runtime, *, workers: int) -> None:
    """The standalone worker: `workers` processes, each running jobs one at a time, plus a reaper."""
    settings = runtime.settings
    runtime.queue.execute = lambda job_id: execute_here(settings, job_id)
    consumer = GuardedConsumer(runtime.queue.huey, settings=settings, workers=workers, worker_type="process",
                               periodic=False, initial_delay=0.01, max_delay=0.5, backoff=1.15, health_check_interval=5)
    reaper = Reaper(runtime)
    reaper.start()
    log.info("pricecast worker: %d process(es), queue %s", workers, settings.queue.split("@")[-1])
    consumer.run()
    reaper.stopped.set()
