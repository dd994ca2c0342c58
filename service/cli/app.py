"""The Typer application object, the callback that builds Settings once, and shared output helpers."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from service.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    name="pricecast",
    help="pricecast: upload daily prices, train one LSTM per ticker, forecast the next step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# Piped output is not wrapped at 80 columns: tables stay readable in logs.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _settings_callback(ctx: typer.Context) -> None:
    """Build Settings once from PRICECAST_* variables; commands read ctx.obj."""
    try:
        ctx.obj = load_settings()
    except SettingsError as exc:
        fail(str(exc), hint="fix the environment variable named above")


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


def fail(message: str, *, hint: str | None = None, code: int = 1) -> None:
    """Print one readable error line (plus a hint) to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, indent=2) + "\n")


def is_terminal() -> bool:
    return sys.stdout.isatty()
