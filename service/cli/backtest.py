"""`pricecast backtest`: train and evaluate the core on a CSV file, model next to baselines."""

from __future__ import annotations

import functools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from service.cli.app import app, settings_of
from service.errors import InvalidInput

if TYPE_CHECKING:  # numpy, pandas (uploads), pydantic and SQLAlchemy load inside the command: `--help` stays fast
    import numpy as np

    from service.settings import Settings


@dataclass
class FilePrices:
    """A CSV read like an upload: labels, the modelled prices, their column, warnings, and the bar clock."""

    dates: list[str]
    prices: np.ndarray
    field: str
    warnings: list[str]
    slots: np.ndarray | None = None
    n_slots: int | None = None


def read_prices(path: Path, *, settings: Settings, calendar: str | None = None,
                frequency: str | None = None) -> FilePrices:
    """Read a CSV through the upload parser, against a calendar (default PRICECAST_DEFAULT_CALENDAR).

    The modelled column is adj_close when every row has it, else close. Bad rows raise the
    upload's InvalidInput, naming each line; the warnings are the upload's, plus the missing
    sessions or bars and rows off the calendar (the file is the whole series here).
    """
    import numpy as np

    from models.windows import choose_price_field
    from service import bars, checks
    from service.calendars import check_calendar, timezone_of
    from service.uploads import CsvLimits, parse_csv

    data = path.read_bytes()
    if len(data) > settings.max_upload_bytes:
        raise InvalidInput(f"{path}: {len(data):,} bytes, more than max_upload_bytes={settings.max_upload_bytes} "
                           "(PRICECAST_MAX_UPLOAD_BYTES)")
    upload = parse_csv(data, max_rows=settings.max_upload_rows, limits=CsvLimits.of(settings))[""]
    name = check_calendar(calendar or settings.default_calendar)
    resolved = bars.resolve(upload, calendar=name, stored=None,
                            given=None if frequency is None else bars.check_frequency(frequency))
    cal = bars.calendar_for(name, upload.ts)
    warnings = upload.warnings + checks.session_warnings(cal, resolved.frequency, upload.ts,
                                                         np.ones(len(upload.ts), dtype=bool))
    columns = {name: np.array(upload.columns[name], dtype=np.float64) if name in upload.columns else None
               for name in ("close", "adj_close")}  # an empty cell becomes NaN
    field = choose_price_field(columns)
    tz = "UTC" if bars.is_daily(resolved.frequency) else timezone_of(name)
    out = FilePrices(bars.labels(upload.ts, resolved.frequency, tz), columns[field], field, warnings)  # type: ignore[arg-type]
    if not bars.is_daily(resolved.frequency):
        out.slots, out.n_slots = bars.slots(cal, upload.ts, bars.bar_seconds(resolved.frequency))
    return out


def report(result, total_seconds: float) -> dict:
    """The backtest --json contract: model and baseline metrics nested as the API shows them, plus timings."""
    from service.reports import comparison

    return {
        **comparison(result.metrics),
        "train_seconds": result.train_seconds,
        "total_seconds": total_seconds,
        "windows_per_second": result.windows_per_second,
        "price_field": result.price_field,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "config": result.config.to_dict(),
        "seed": result.seed,
    }


def render(out: dict, console: Console) -> None:
    from service.reports import MODEL_METRICS

    columns = ("model", "persistence", "drift", "base_rate", "always_up", "ewma")
    table = Table(title=f"Backtest: {out['n_test']} test days {out['test_start']} .. {out['test_end']}")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for metric in MODEL_METRICS:
        cells = []
        for name in columns:
            value = (out.get(name) or {}).get(metric)
            cells.append("" if value is None else f"{value:.4f}")
        table.add_row(metric, *cells)
    console.print(table)
    verdict = "NO EDGE over the naive baselines" if out["no_edge"] else "edge over persistence and the base rate"
    base = out.get("base_rate") or {}
    console.print(
        f"skill_rmse {out['skill_rmse']:+.4f} | {verdict} | point forecast {out.get('point_forecast')} | "
        f"base rate: always {base.get('direction')} (P(up) {base.get('prob_up') or 0:.3f}) | "
        f"price field {out['price_field']} | widths in % of price | "
        f"train {out['train_seconds']:.2f}s, total {out['total_seconds']:.2f}s, "
        f"{out['windows_per_second']:,.0f} windows/s, best epoch {out['best_epoch']}/{out['epochs_run']}",
        highlight=False,
    )


@app.command()
def backtest(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV with a header holding at least date and close."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    save: Path | None = typer.Option(None, "--save", help="Write the trained model checkpoint here."),
    window: int | None = typer.Option(None, help="Past daily returns per sample."),
    hidden_size: int | None = typer.Option(None, help="LSTM hidden units."),
    layers: int | None = typer.Option(None, help="Stacked LSTM layers."),
    dropout: float | None = typer.Option(None, help="Dropout probability."),
    epochs: int | None = typer.Option(None, help="Maximum epochs (early stopping may end sooner)."),
    batch_size: int | None = typer.Option(None, help="Windows per optimiser step."),
    lr: float | None = typer.Option(None, help="Adam learning rate."),
    patience: int | None = typer.Option(None, help="Epochs without validation improvement before stopping."),
    seed: int = typer.Option(0, help="Random seed (same data, config, seed, threads: same weights)."),
    calendar: str | None = typer.Option(None, help="The series' calendar (default PRICECAST_DEFAULT_CALENDAR)."),
    frequency: str | None = typer.Option(None, help="Bar size, e.g. 1d, 5m, 1h (default: inferred)."),
) -> None:
    """Train on a CSV with the default protocol and compare the model with naive baselines.

    Example: pricecast backtest examples/data/SPX.csv --json
    """
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from models import checkpoints
    from models.errors import CheckpointError, ConfigError, InsufficientData, TrainingFailed
    from models.lstm import LSTMConfig
    from models.train import train
    from service.uploads import describe_errors

    start = time.perf_counter()
    settings: Settings = settings_of(ctx)
    # Like the workers: one thread by default. Many threads on a busy machine made a backtest
    # 50-100x slower than one. Restored when the command ends, for in-process callers (tests).
    ctx.call_on_close(functools.partial(torch.set_num_threads, torch.get_num_threads()))
    torch.set_num_threads(settings.torch_threads)
    err = Console(stderr=True, soft_wrap=True)
    overrides = dict(window=window, hidden_size=hidden_size, layers=layers, dropout=dropout,
                     epochs=epochs, batch_size=batch_size, lr=lr, patience=patience)
    try:
        config = LSTMConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
        read = read_prices(file, settings=settings, calendar=calendar, frequency=frequency)
        dates, prices, field, warnings = read.dates, read.prices, read.field, read.warnings
        clock = {"slots": read.slots, "n_slots": read.n_slots}
        for warning in warnings:
            err.print(f"warning: {warning}", markup=False, highlight=False)
        if sys.stdout.isatty() and not json_out:
            with Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                          TextColumn("val loss {task.fields[val]}"), TimeElapsedColumn()) as bar:
                task = bar.add_task("train", total=config.epochs, val="-")
                result = train(prices, config, seed=seed, dates=dates, price_field=field,
                               on_epoch=lambda e: bar.update(task, completed=e.epoch, val=f"{e.val_loss:.4f}"), **clock)
                bar.update(task, total=len(result.history))
        else:
            result = train(prices, config, seed=seed, dates=dates, price_field=field, **clock)
        sha = checkpoints.save(save, result) if save is not None else None
    except InvalidInput as exc:
        err.print(f"error: {file}: {exc.message}", markup=False, highlight=False)
        for line in describe_errors(exc.details):
            err.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    except (OSError, ValueError, ConfigError, InsufficientData, TrainingFailed, CheckpointError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    out = report(result, time.perf_counter() - start)
    out["torch_threads"] = torch.get_num_threads()
    if sha is not None:
        out["saved"] = {"path": str(save), "sha256": sha}
    if json_out:
        print(json.dumps(out))
    else:
        render(out, Console())
        if sha is not None:
            print(f"saved {save} sha256 {sha}")
