"""`pricecast worker` and `pricecast train`."""

from __future__ import annotations

import os

import typer
from rich.markup import escape

from service.cli.app import app, console, err_console, fail_with, print_json, runtime_of, settings_of
from service.cli.progress import report_job, train_here
from service.errors import PricecastError


@app.command()
def worker(ctx: typer.Context,
           workers: int = typer.Option(1, "--workers", "-w", min=1, max=64, help="worker processes")) -> None:
    """Run training jobs from the queue (PRICECAST_QUEUE_URL), one per worker process.

    Example: PRICECAST_QUEUE_URL=redis://127.0.0.1:6379/0 pricecast worker --workers 2
    """
    from service.logs import configure_logging
    from service.worker import run_worker

    runtime = runtime_of(ctx)  # refuses a database behind head before taking jobs
    configure_logging(settings_of(ctx))
    run_worker(runtime, workers=workers)


@app.command()
def train(
    ctx: typer.Context,
    tickers: list[str] = typer.Argument(None, help="tickers to train"),
    all_: bool = typer.Option(False, "--all", help="every stored ticker"),
    stale: bool = typer.Option(False, "--stale", help="tickers whose active model is stale "
                                                      "(PRICECAST_STALE_AFTER prices behind; as forecasts say)"),
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

    Exits 1 if any ticker could not be trained. Example: pricecast train SPX MSFT    |    pricecast train --all --queue
    """
    from service.tables import JobStatus
    from service.usecases import training

    flags = dict(window=window, hidden_size=hidden_size, layers=layers, dropout=dropout, epochs=epochs,
                 patience=patience, batch_size=batch_size, lr=lr, seed=seed)
    params = {k: v for k, v in flags.items() if v is not None}
    rt = runtime_of(ctx)
    try:
        requested = training.request_training(rt, tickers=tickers or None, all_=all_, stale=stale, params=params,
                                              deliver_jobs=queue)
    except PricecastError as exc:
        fail_with(exc, hint="pricecast train --help")
    out = err_console if json_out else console  # with --json, stdout carries only the JSON
    for err in requested.errors:
        out.print(f"[red]{escape(err.ticker)}[/]: {escape(err.message)}", highlight=False)
    created = set(requested.created)
    finished = []
    grouped = not queue and len(created) > 1 and rt.settings.train_group_size > 1
    if grouped:  # many tickers: trained together in groups (service/grouptraining.py), outcomes below
        out.print(f"training {len(created)} tickers in groups of up to {rt.settings.train_group_size}", highlight=False)
        training.run_jobs(rt, job_ids=requested.created, worker_id=f"cli:{os.getpid()}")
    for job in requested.jobs:
        if job.id not in created:
            out.print(f"{job.ticker}: job {job.id} is already {job.status}; not started again", highlight=False)
        elif queue:
            out.print(f"{job.ticker}: job {job.id} queued", highlight=False)
        elif grouped:
            finished.append(report_job(rt, job_id=job.id, symbol=job.ticker, quiet_stdout=json_out))
        else:
            finished.append(train_here(rt, job_id=job.id, symbol=job.ticker, quiet_stdout=json_out))
    if json_out:
        print_json({"jobs": finished if not queue else [j.model_dump(mode="json") for j in requested.jobs],
                    "errors": [e.model_dump() for e in requested.errors]})
    raise typer.Exit(1 if requested.errors or any(j["status"] != JobStatus.SUCCEEDED for j in finished) else 0)
