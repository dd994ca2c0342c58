"""Training in the foreground, with a progress bar (or one line per epoch when piped): `train` and `demo`."""

from __future__ import annotations

import os

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from service.cli.app import console as stdout_console
from service.cli.app import err_console, is_terminal


def train_here(rt, *, job_id: int, symbol: str, quiet_stdout: bool = False) -> dict:
    """Run a queued job in this process and print its outcome next to the baselines; return a summary.

    `quiet_stdout` sends the progress to stderr, for commands whose stdout is JSON.
    """
    console: Console = err_console if quiet_stdout else stdout_console
    from service.usecases import training

    worker_id = f"cli:{os.getpid()}"
    if is_terminal() and not quiet_stdout:
        with Progress(TextColumn(escape(symbol)), BarColumn(), TextColumn("epoch {task.completed}/{task.total}"),
                      TextColumn("val {task.fields[val]}"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(symbol, total=None, val="-")

            def on_epoch(info) -> None:
                bar.update(task, completed=info.epoch, total=info.max_epochs, val=f"{info.val_loss:.4f}")

            status = training.run_job(rt, job_id=job_id, worker_id=worker_id, on_epoch=on_epoch)
    else:
        def on_epoch(info) -> None:
            console.print(f"{symbol} epoch {info.epoch}/{info.max_epochs} train_loss {info.train_loss:.5f} "
                          f"val_loss {info.val_loss:.5f} elapsed {info.elapsed_s:.1f}s", highlight=False, markup=False)

        status = training.run_job(rt, job_id=job_id, worker_id=worker_id, on_epoch=on_epoch)
    return report_job(rt, job_id=job_id, symbol=symbol, status=status, quiet_stdout=quiet_stdout)


def report_job(rt, *, job_id: int, symbol: str, status: str | None = None, quiet_stdout: bool = False) -> dict:
    """Print a finished job's outcome next to the baselines; return a summary."""
    console: Console = err_console if quiet_stdout else stdout_console
    from service.tables import JobStatus
    from service.usecases import registry, training

    job = training.read_job(rt, job_id=job_id)
    status = status or (job.status if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
                        else None)
    line = job.message if status == JobStatus.SUCCEEDED else (job.error or job.message or status or job.status)
    console.print(f"{symbol}: {status or job.status}: {line}", highlight=False, markup=False)
    if job.model_version is not None:
        m = registry.read_model(rt, symbol=symbol, version=job.model_version).metrics
        console.print(f"  rmse {m['rmse']:.4f} vs persistence {m['persistence_rmse']:.4f} "
                      f"(skill {m['skill_rmse']:+.4f}); direction {m['directional_accuracy']:.3f} vs "
                      f"base rate {m['base_rate']:.3f}; coverage 80% {m['coverage_80']:.3f}, 95% "
                      f"{m['coverage_95']:.3f}{'; NO EDGE' if m['no_edge'] else ''}", highlight=False)
    return {"job_id": job_id, "ticker": symbol, "status": str(job.status), "message": job.message, "error": job.error,
            "version": job.model_version}
