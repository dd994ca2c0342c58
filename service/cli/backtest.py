"""`pricecast backtest`: train and evaluate the core on a CSV file, model next to baselines."""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.cli.app import app
from service.reports import MODEL_METRICS, comparison



def read_prices(path: Path) -> tuple[list[str], np.ndarray, str]:
    """Read dates and the chosen price column (adj_close when complete, else close) from a CSV."""
    from models.windows import choose_price_field

    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if "date" not in header or "close" not in header:
            raise ValueError(f"header={header}: the CSV needs at least 'date' and 'close' columns")
        rows = list(reader)
    dates = [r["date"] for r in rows]

    def column(name: str) -> np.ndarray | None:
        if name not in header:
            return None
        return np.array([float(r[name]) if r[name].strip() else math.nan for r in rows], dtype=np.float64)

    columns = {"close": column("close"), "adj_close": column("adj_close")}
    field = choose_price_field(columns)
    return dates, columns[field], field


def report(result, total_seconds: float) -> dict:
    """The backtest --json contract: model and baseline metrics nested as the API shows them, plus timings."""
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
) -> None:
    """Train on a CSV with the default protocol and compare the model with naive baselines.

    Example: pricecast backtest examples/data/SPX.csv --json
    """
    from models import checkpoints
    from models.errors import CheckpointError, ConfigError, InsufficientData, TrainingFailed
    from models.lstm import LSTMConfig
    from models.train import train

    start = time.perf_counter()
    err = Console(stderr=True)
    overrides = dict(window=window, hidden_size=hidden_size, layers=layers, dropout=dropout,
                     epochs=epochs, batch_size=batch_size, lr=lr, patience=patience)
    try:
        dates, prices, field = read_prices(file)
        config = LSTMConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
        if sys.stdout.isatty() and not json_out:
            with Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                          TextColumn("val loss {task.fields[val]}"), TimeElapsedColumn()) as bar:
                task = bar.add_task("train", total=config.epochs, val="-")
                result = train(prices, config, seed=seed, dates=dates, price_field=field,
                               on_epoch=lambda e: bar.update(task, completed=e.epoch, val=f"{e.val_loss:.4f}"))
                bar.update(task, total=len(result.history))
        else:
            result = train(prices, config, seed=seed, dates=dates, price_field=field)
        sha = checkpoints.save(save, result) if save is not None else None
    except (OSError, ValueError, ConfigError, InsufficientData, TrainingFailed, CheckpointError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    out = report(result, time.perf_counter() - start)
    if sha is not None:
        out["saved"] = {"path": str(save), "sha256": sha}
    if json_out:
        print(json.dumps(out))
    else:
        render(out, Console())
        if sha is not None:
            print(f"saved {save} sha256 {sha}")
