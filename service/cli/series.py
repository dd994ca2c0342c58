"""`pricecast import` and `pricecast series list`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.table import Table

from service import migrate as migrations
from service import series as series_domain
from service.cli.app import app, console, fail, is_terminal, print_json, settings_of
from service.db import make_engine, make_sessionmaker, session_scope
from service.errors import PricecastError
from service.settings import Settings
from service.uploads import normalise_ticker, parse_csv

series_app = typer.Typer(help="Inspect stored price series.", no_args_is_help=True)
app.add_typer(series_app, name="series")


def open_sessions(settings: Settings):
    """A sessionmaker on a database whose schema is at head (the embedded file migrates itself)."""
    if settings.is_embedded:
        migrations.upgrade(settings)
    engine = make_engine(settings.db_url)
    current, head = migrations.schema_status(settings, engine)
    if current != head:
        fail(f"database schema is at {current or 'nothing'}, code expects {head}", hint="run `pricecast migrate`")
    return make_sessionmaker(engine)


def print_validation_error(exc: PricecastError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    for row in details.get("rows", []):
        where = f"line {row['line']}" if "line" in row else f"index {row.get('index')}"
        console.print(f"  {where}, column {row['column']}: {row['value']!r}: {row['reason']}", highlight=False)
    if details.get("omitted"):
        console.print(f"  ... and {details['omitted']} more", highlight=False)


@app.command("import")
def import_file(
    ctx: typer.Context,
    ticker: str = typer.Argument(..., help="ticker symbol, e.g. SPX"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV with date,close[,...]"),
    mode: str = typer.Option("merge", help="merge (insert and update) or replace (the file becomes the series)"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Import a CSV of daily prices for one ticker (same validation as the upload endpoint).

    Example: pricecast import SPX examples/data/SPX.csv
    """
    if mode not in ("merge", "replace"):
        fail(f"--mode={mode!r}: must be merge or replace")
    settings = settings_of(ctx)
    try:
        symbol = normalise_ticker(ticker)
        data = file.read_bytes()
        if len(data) > settings.max_upload_bytes:
            fail(f"{file}: {len(data)} bytes exceeds PRICECAST_MAX_UPLOAD_BYTES={settings.max_upload_bytes}")
        with console.status(f"importing {file.name}", spinner="dots") if is_terminal() else nullcontext():
            upload = parse_csv(data, max_rows=settings.max_upload_rows)[""]
            with session_scope(open_sessions(settings)) as session:
                report = series_domain.store_prices(session, symbol=symbol, upload=upload, mode=mode)
    except PricecastError as exc:
        console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        print_validation_error(exc)
        raise typer.Exit(1) from None
    if json_out:
        print_json(report.__dict__)
        return
    console.print(
        f"{report.ticker}: {report.rows_received} rows received, {report.rows_inserted} inserted, "
        f"{report.rows_updated} updated, {report.rows_unchanged} unchanged"
        + (f", {report.rows_deleted} deleted" if report.rows_deleted else "")
        + f" ({report.first_date} .. {report.last_date})", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@series_app.command("list")
def list_series(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List stored tickers with their row counts and date ranges.

    Example: pricecast series list
    """
    with session_scope(open_sessions(settings_of(ctx))) as session:
        rows = series_domain.list_series(session)
    if json_out:
        print_json({"series": [r.__dict__ for r in rows]})
        return
    table = Table("ticker", "rows", "first date", "last date")
    for r in rows:
        table.add_row(r.ticker, str(r.rows), str(r.first_date or ""), str(r.last_date or ""))
    console.print(table)
