"""`pricecast import` and `pricecast series list`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from service.cli.app import app, console, fail, fail_with, is_terminal, print_json, runtime_of, settings_of
from service.errors import PricecastError
from service.tickers import normalise_ticker

series_app = typer.Typer(help="Inspect stored price series.", no_args_is_help=True)
app.add_typer(series_app, name="series")


@app.command("import")
def import_file(
    ctx: typer.Context,
    ticker: str = typer.Argument(..., help="ticker symbol, e.g. SPX"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV with date,close[,...]"),
    mode: str = typer.Option("merge", help="merge (insert and update) or replace (the file becomes the series)"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON (as POST /series/{ticker} answers)"),
) -> None:
    """Import a CSV of daily prices for one ticker: exactly what `POST /series/{ticker}` does.

    Example: pricecast import SPX examples/data/SPX.csv
    """
    from service.usecases import ingest

    if mode not in ("merge", "replace"):
        fail(f"--mode={mode!r}: must be merge or replace")
    settings = settings_of(ctx)
    try:
        symbol = normalise_ticker(ticker)
        data = file.read_bytes()
        if len(data) > settings.max_upload_bytes:
            fail(f"{file}: {len(data)} bytes exceeds PRICECAST_MAX_UPLOAD_BYTES={settings.max_upload_bytes}")
        rt = runtime_of(ctx)
        with console.status(f"importing {file.name}", spinner="dots") if is_terminal() else nullcontext():
            report = ingest.upload_series(rt, symbol=symbol, kind="csv", body=data, mode=mode)  # type: ignore[arg-type]
    except PricecastError as exc:
        fail_with(exc)
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    console.print(
        f"{report.ticker}: {report.rows_received} rows received, {report.rows_inserted} inserted, "
        f"{report.rows_updated} updated, {report.rows_unchanged} unchanged"
        + (f", {report.rows_deleted} deleted" if report.rows_deleted else "")
        + f" ({report.first_date} .. {report.last_date})", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@series_app.command("list")
def list_series(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List stored tickers with their row counts and date ranges.

    Example: pricecast series list
    """
    from service.usecases import series

    rows = series.read_series_list(runtime_of(ctx)).series
    if json_out:
        print_json({"series": [r.model_dump(mode="json") for r in rows]})
        return
    table = Table("ticker", "rows", "first date", "last date")
    for r in rows:
        table.add_row(r.ticker, str(r.rows), str(r.first_date or ""), str(r.last_date or ""))
    console.print(table)
