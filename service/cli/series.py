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
    calendar: str | None = typer.Option(None, help="a new series' calendar, e.g. XNYS, XLON, 24/7, weekdays "
                                                    "(default PRICECAST_DEFAULT_CALENDAR)"),
    frequency: str | None = typer.Option(None, help="bar size, e.g. 1d, 5m, 1h (default: the series' own, else inferred)"),
) -> None:
    """Import a CSV of daily prices or intraday bars for one ticker: exactly what `POST /series/{ticker}` does.

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
            report = ingest.upload_series(rt, symbol=symbol, kind="csv", body=data, mode=mode,  # type: ignore[arg-type]
                                          calendar=calendar, frequency=frequency)
    except PricecastError as exc:
        fail_with(exc)
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    console.print(
        f"{report.ticker}: {report.rows_received} rows received, {report.rows_inserted} inserted, "
        f"{report.rows_updated} updated, {report.rows_unchanged} unchanged"
        + (f", {report.rows_deleted} deleted" if report.rows_deleted else "")
        + f" ({report.first} .. {report.last}); {report.frequency} bars ({report.frequency_source}), calendar "
        f"{report.calendar} ({report.timezone})", highlight=False)
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@series_app.command("list")
def list_series(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List stored tickers with their row counts, bar sizes, calendars and time ranges.

    Example: pricecast series list
    """
    from service.usecases import series

    rows = series.read_series_list(runtime_of(ctx)).series
    if json_out:
        print_json({"series": [r.model_dump(mode="json") for r in rows]})
        return
    table = Table("ticker", "rows", "bars", "calendar", "first", "last")
    for r in rows:
        table.add_row(r.ticker, str(r.rows), r.frequency, f"{r.calendar} ({r.timezone})", str(r.first or ""),
                      str(r.last or ""))
    console.print(table)


@series_app.command("calendar")
def set_calendar(
    ctx: typer.Context,
    ticker: str = typer.Argument(..., help="ticker symbol, e.g. SPX"),
    calendar: str = typer.Argument(..., help="an exchange code (XNYS, XLON, XTKS, ...), 24/7 or weekdays"),
    json_out: bool = typer.Option(False, "--json", help="print JSON (as PATCH /series/{ticker} answers)"),
) -> None:
    """Change a series' calendar: exactly what `PATCH /series/{ticker}` does.

    Example: pricecast series calendar BTC 24/7
    """
    from service.usecases import series

    try:
        out = series.change_calendar(runtime_of(ctx), symbol=normalise_ticker(ticker), calendar=calendar)
    except PricecastError as exc:
        fail_with(exc)
    if json_out:
        print_json(out.model_dump(mode="json"))
        return
    s = out.series
    console.print(f"{s.ticker}: calendar {s.calendar} ({s.timezone}), {s.frequency} bars, revision {s.revision}",
                  highlight=False)
    for warning in out.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
