"""`pricecast demo`: load the sample series, train them, print forecasts next to the baselines."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from service.cli.app import app, console, fail, fail_with, runtime_of, settings_of
from service.cli.forecast import render
from service.cli.progress import train_here
from service.errors import PricecastError

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


@app.command()
def demo(
    ctx: typer.Context,
    serve: bool = typer.Option(False, "--serve", help="start the server afterwards (what scripts/quickstart runs)"),
    data: Path = typer.Option(SAMPLES, help="folder of CSV files to load, one ticker per file"),
    host: str = typer.Option(None, help="with --serve: bind address (default PRICECAST_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, min=1, max=65535, help="with --serve: port (default PRICECAST_PORT, 8000)"),
) -> None:
    """Load the sample series, train a model for each, and print their forecasts next to the baselines.

    The files go through the same ingest as an upload. Example: pricecast demo --serve
    """
    from service.schemas.forecasts import ForecastRequest
    from service.tables import JobStatus
    from service.tickers import normalise_ticker
    from service.usecases import forecasts, ingest, registry, training

    settings = settings_of(ctx).model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    if serve:  # a busy port fails now, not after the training
        from service.cli.server import ensure_port_free

        ensure_port_free(settings.host, settings.port)
    files = sorted(data.glob("*.csv")) if data.is_dir() else []
    if not files:
        fail(f"no CSV files in {data}", hint="pass --data FOLDER with one CSV per ticker")
    rt = runtime_of(ctx)
    where = "embedded SQLite file " + settings.db_url.removeprefix("sqlite:///") if settings.is_embedded else "the configured database"
    console.print(f"[bold]pricecast demo[/] on {where}", highlight=False)
    symbols, failed = [], False
    for path in files:
        try:
            symbol = normalise_ticker(path.stem)
            report = ingest.upload_series(rt, symbol=symbol, kind="csv", body=path.read_bytes())
        except PricecastError as exc:
            fail_with(exc, hint=f"fix or remove {path}")
        console.print(f"loaded {symbol}: {report.rows_received} rows ({report.first_date} .. {report.last_date}), "
                      f"{report.rows_inserted} new", highlight=False)
        symbols.append(symbol)
    todo = training.needing_training(rt, symbols=symbols)
    for symbol in symbols:
        if symbol not in todo:
            console.print(f"{symbol}: the active model already covers the latest data; not retraining",
                          highlight=False)
            continue
        # Not delivered: this process trains it. A job the ingest queued (PRICECAST_RETRAIN_AFTER) is run
        # here too, unless a server's worker has claimed it already.
        requested = training.request_training(rt, tickers=[symbol], deliver_jobs=False)
        if requested.errors:
            console.print(f"{symbol}: not trained: {requested.errors[0].message}", highlight=False, markup=False)
            failed = True
            continue
        job = requested.jobs[0]
        if job.status == JobStatus.QUEUED:
            failed |= train_here(rt, job_id=job.id, symbol=symbol)["status"] != JobStatus.SUCCEEDED
        else:
            console.print(f"{symbol}: job {job.id} is already {job.status} elsewhere", highlight=False)
    answer = forecasts.forecast(rt, ForecastRequest(tickers=symbols))
    _baselines({s: _active(rt, registry, s) for s in symbols})
    render(answer.data()["forecasts"])
    url = f"http://{settings.host}:{settings.port}"
    console.print(
        f"\nNext: {'the server is starting at ' + url if serve else 'start the server with `pricecast serve`, then open ' + url}\n"
        f"  {url}/         the page: charts, backtests, training, models\n"
        f"  {url}/docs     the API, to try every endpoint\n"
        f"  curl -s -X POST {url}/forecast -H 'content-type: application/json' -d '{{\"ticker\": \"{symbols[0]}\"}}'\n"
        f"  {cli_hint()}",
        highlight=False, markup=False)
    if serve:
        from service.cli.server import serve as serve_command

        serve_command(ctx, host=settings.host, port=settings.port, no_worker=False)
    elif failed or answer.errors:
        raise typer.Exit(1)


def cli_hint() -> str:
    """How to reach the `pricecast` command: it lives in the venv's bin/, which may not be on PATH."""
    import shutil
    import sys

    bin_dir = Path(sys.executable).parent
    cli = bin_dir / "pricecast"
    found = shutil.which("pricecast")
    if found and Path(found).resolve() == cli.resolve():
        return "pricecast --help    the command line (it is on your PATH)"
    return (f"{cli} --help    the command line; it is not on your PATH: "
            f"`source {bin_dir / 'activate'}`, then `pricecast --help`")


def _active(rt, registry, symbol: str):
    from service.tables import ModelStatus

    models = registry.read_models(rt, symbol=symbol).models
    return next((m for m in models if m.status == ModelStatus.ACTIVE), None)


def _baselines(models: dict) -> None:
    table = Table("ticker", "test days", "model RMSE", "persistence RMSE", "skill", "direction", "always-up",
                  "80% cover", "95% cover", "verdict", title="Backtest on the last 20% of days, next to the naive baselines")
    for symbol, model in models.items():
        if model is None:
            continue
        m = model.metrics
        table.add_row(symbol, str(m["n_test"]), f"{m['rmse']:.4f}", f"{m['persistence_rmse']:.4f}",
                      f"{m['skill_rmse']:+.4f}", f"{m['directional_accuracy']:.3f}", f"{m['base_rate']:.3f}",
                      f"{m['coverage_80']:.3f}", f"{m['coverage_95']:.3f}",
                      "no edge over 'tomorrow = today'" if m["no_edge"] else "edge")
    console.print(table)
