"""`pricecast demo`: load the sample series, train them, print forecasts next to the baselines."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from service import forecasting, registry, series, training
from service.cli.app import app, console, fail, settings_of
from service.cli.forecast import render
from service.cli.jobs import _train_one
from service.cli.series import open_sessions
from service.db import session_scope
from service.uploads import parse_csv

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"


def _needs_training(session, symbol: str) -> bool:
    ticker = series.get_ticker(session, symbol=symbol)
    active = registry.find_active(session, ticker_id=ticker.id)
    last = series.list_series(session)
    last_date = next(s.last_date for s in last if s.ticker == symbol)
    return active is None or active.data_end != last_date


@app.command()
def demo(
    ctx: typer.Context,
    serve: bool = typer.Option(False, "--serve", help="start the server afterwards (what scripts/quickstart runs)"),
    data: Path = typer.Option(SAMPLES, help="folder of CSV files to load, one ticker per file"),
) -> None:
    """Load the sample series, train a model for each, and print their forecasts next to the baselines.

    Example: pricecast demo --serve
    """
    settings = settings_of(ctx)
    files = sorted(data.glob("*.csv")) if data.is_dir() else []
    if not files:
        fail(f"no CSV files in {data}", hint="pass --data FOLDER with one CSV per ticker")
    factory = open_sessions(settings)
    where = "embedded SQLite file " + settings.db_url.removeprefix("sqlite:///") if settings.is_embedded else "the configured database"
    console.print(f"[bold]pricecast demo[/] on {where}", highlight=False)
    symbols = []
    for path in files:
        symbol = path.stem.upper()
        upload = parse_csv(path.read_bytes(), max_rows=settings.max_upload_rows)[""]
        with session_scope(factory) as session:
            report = series.store_prices(session, symbol=symbol, upload=upload)
        console.print(f"loaded {symbol}: {report.rows_received} rows ({report.first_date} .. {report.last_date}), "
                      f"{report.rows_inserted} new", highlight=False)
        symbols.append(symbol)
    for symbol in symbols:
        with session_scope(factory) as session:
            if not _needs_training(session, symbol):
                console.print(f"{symbol}: the active model already covers the latest data; not retraining",
                              highlight=False)
                continue
            job, created = training.submit_training(session, settings=settings, symbol=symbol)
            job_id = job.id
        if created:
            _train_one(settings, factory, job_id, symbol)
    with session_scope(factory) as session:
        results = forecasting.forecast_batch(session, settings=settings, caches=forecasting.Caches(settings),
                                             symbols=symbols)
        models = {s: registry.find_active(session, ticker_id=series.get_ticker(session, symbol=s).id) for s in symbols}
    _baselines(models)
    render([r for r in results.values() if isinstance(r, dict)])
    url = f"http://{settings.host}:{settings.port}"
    console.print(
        f"\nNext: {'the server is starting at ' + url if serve else 'start the server with `pricecast serve`, then open ' + url}\n"
        f"  {url}/         the page: charts, backtests, training, models\n"
        f"  {url}/docs     the API, to try every endpoint\n"
        f"  curl -s -X POST {url}/forecast -H 'content-type: application/json' -d '{{\"ticker\": \"{symbols[0]}\"}}'",
        highlight=False)
    if serve:
        from service.cli.server import serve as serve_command

        serve_command(ctx, host=None, port=None, no_worker=False)


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
