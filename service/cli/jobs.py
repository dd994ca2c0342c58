"""`pricecast worker` and `pricecast train`."""

from __future__ import annotations

import os

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from service import retraining, training
from service.cli.app import app, console, fail, is_terminal, print_json, settings_of
from service.cli.series import open_sessions
from service.db import session_scope
from service.errors import PricecastError
from service.jobs import JobQueue
from service.logs import configure_logging
from service.tables import TrainingJob


@app.command()
def worker(ctx: typer.Context,
           workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="worker processes")) -> None:
    """Run training jobs from the queue (PRICECAST_QUEUE_URL), one per worker process.

    Example: PRICECAST_QUEUE_URL=redis://127.0.0.1:6379/0 pricecast worker --workers 2
    """
    from service.worker import run_worker

    settings = settings_of(ctx)
    configure_logging(settings)
    open_sessions(settings)  # refuse a database behind head before taking jobs
    run_worker(settings, workers=workers)


def _params(**flags: object) -> dict:
    return {k: v for k, v in flags.items() if v is not None}


@app.command()
def train(
    ctx: typer.Context,
    tickers: list[str] = typer.Argument(None, help="tickers to train"),
    all_: bool = typer.Option(False, "--all", help="every stored ticker"),
    stale: bool = typer.Option(False, "--stale", help="tickers whose active model is behind PRICECAST_RETRAIN_AFTER points"),
    queue: bool = typer.Option(False, "--queue", help="submit jobs to the queue instead of training here"),
    json_out: bool = typer.Option(False, "--json", help="print the finished jobs as JSON"),
    window: int = typer.Option(None, help="past daily returns per sample"),
    hidden_size: int = typer.Option(None, help="LSTM units"),
    layers: int = typer.Option(None, help="LSTM layers"),
    dropout: float = typer.Option(None, help="dropout between layers"),
    epochs: int = typer.Option(None, help="maximum epochs (early stopping usually ends sooner)"),
    patience: int = typer.Option(None, help="epochs without validation improvement before stopping"),
    batch_size: int = typer.Option(None, help="windows per batch"),
    lr: float = typer.Option(None, help="learning rate"),
    seed: int = typer.Option(None, help="random seed (same data, config and seed give the same weights)"),
) -> None:
    """Train models for tickers in the foreground with progress bars (or queue jobs with --queue).

    Example: pricecast train SPX MSFT    |    pricecast train --all --queue
    """
    settings = settings_of(ctx)
    params = _params(window=window, hidden_size=hidden_size, layers=layers, dropout=dropout, epochs=epochs,
                     patience=patience, batch_size=batch_size, lr=lr, seed=seed)
    factory = open_sessions(settings)
    try:
        with session_scope(factory) as session:
            jobs, errors, created = retraining.submit_bulk(session, settings=settings, tickers=tickers or None,
                                                           all_=all_, stale=stale, params=params)
            job_ids = [(j.id, j.ticker.symbol, j in created, j.status) for j in jobs]
    except PricecastError as exc:
        fail(exc.message, hint="pricecast train --help")
    for err in errors:
        console.print(f"[red]{err['ticker']}[/]: {err['message']}", highlight=False)
    if queue:
        q = JobQueue(settings)
        for job_id, symbol, new, status in job_ids:
            if new:
                q.enqueue(job_id, priority=training.PRIORITY_BULK)
            console.print(f"{symbol}: job {job_id} {'queued' if new else f'already {status}'}", highlight=False)
        raise typer.Exit(1 if errors else 0)
    finished = []
    for job_id, symbol, new, status in job_ids:
        if not new:
            console.print(f"{symbol}: job {job_id} is already {status} elsewhere; skipped", highlight=False)
            continue
        finished.append(_train_one(settings, factory, job_id, symbol))
    if json_out:
        print_json({"jobs": finished, "errors": errors})
    raise typer.Exit(1 if errors or any(j["status"] != "succeeded" for j in finished) else 0)


def _train_one(settings, factory, job_id: int, symbol: str) -> dict:
    worker_id = f"cli:{os.getpid()}"
    if is_terminal():
        with Progress(TextColumn(f"{symbol}"), BarColumn(), TextColumn("epoch {task.completed}/{task.total}"),
                      TextColumn("val {task.fields[val]}"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(symbol, total=None, val="-")

            def on_epoch(info) -> None:
                bar.update(task, completed=info.epoch, total=info.max_epochs, val=f"{info.val_loss:.4f}")

            status = training.run_training(settings, factory, job_id=job_id, worker_id=worker_id, on_epoch=on_epoch)
    else:
        def on_epoch(info) -> None:
            print(f"{symbol} epoch {info.epoch}/{info.max_epochs} train_loss {info.train_loss:.5f} "
                  f"val_loss {info.val_loss:.5f} elapsed {info.elapsed_s:.1f}s", flush=True)

        status = training.run_training(settings, factory, job_id=job_id, worker_id=worker_id, on_epoch=on_epoch)
    with factory() as session:
        job = session.get(TrainingJob, job_id)
        line = job.message if status == "succeeded" else (job.error or job.message or status)
        console.print(f"{symbol}: {status}: {line}", highlight=False)
        version = job.model_version
        out = {"job_id": job_id, "ticker": symbol, "status": job.status, "message": job.message, "error": job.error,
               "version": version.version if version else None}
        if version is not None:
            m = version.metrics
            console.print(f"  rmse {m['rmse']:.4f} vs persistence {m['persistence_rmse']:.4f} "
                          f"(skill {m['skill_rmse']:+.4f}); direction {m['directional_accuracy']:.3f} vs "
                          f"base rate {m['base_rate']:.3f}; coverage 80% {m['coverage_80']:.3f}, 95% "
                          f"{m['coverage_95']:.3f}{'; NO EDGE' if m['no_edge'] else ''}", highlight=False)
    return out
