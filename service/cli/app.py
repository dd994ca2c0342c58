"""The Typer application object, the callback that builds Settings once, the runtime bootstrap and output helpers.

Command modules import the use cases (and through them torch) inside the commands, so that
`pricecast --help` and every `--help` answer without loading them.
"""

from __future__ import annotations

import json
import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from service.errors import PricecastError

if TYPE_CHECKING:  # service.settings loads pydantic (~0.1 s): only a command that runs needs it
    from service.settings import Settings
    from service.usecases.runtime import Runtime

app = typer.Typer(
    name="pricecast",
    help="pricecast: upload daily prices, train one LSTM per ticker, forecast the next step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# The running command's settings, for messages that say where they looked (fail_with's hints).
_settings: ContextVar[Settings | None] = ContextVar("pricecast_cli_settings", default=None)
# Piped output is not wrapped at 80 columns: tables stay readable in logs.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _settings_callback(ctx: typer.Context) -> None:
    """Settings are built on first use (settings_of): click runs this callback before it parses a
    subcommand's --help, which then needs neither pydantic nor a valid environment."""
    ctx.obj = None
    _settings.set(None)


def settings_of(ctx: typer.Context) -> Settings:
    """The command's Settings, built once from PRICECAST_* variables (a bad value: one line, exit 1)."""
    root = ctx.find_root()
    if root.obj is None:
        from service.settings import SettingsError, load_settings

        try:
            root.obj = load_settings()
        except SettingsError as exc:
            fail(str(exc), hint="fix the environment variable named above")
        _settings.set(root.obj)
    return root.obj


def runtime_of(ctx: typer.Context) -> Runtime:
    """The command's runtime: the one database bootstrap (the embedded file migrated, any other checked)."""
    from service.migrate import SchemaBehind
    from service.settings import mask_url
    from service.usecases.runtime import open_runtime

    settings = settings_of(ctx)
    try:
        runtime = open_runtime(settings)
    except SchemaBehind as exc:
        fail(str(exc), hint="run `pricecast migrate` against this database")
    except Exception as exc:  # noqa: BLE001 - a start-up failure is one readable line
        fail(f"cannot open the database {mask_url(settings.db_url)}: {type(exc).__name__}: {settings.redact(str(exc))}",
             hint="check PRICECAST_DATABASE_URL (or PRICECAST_DATA_DIR) and that the server is running")
    ctx.call_on_close(runtime.close)
    return runtime


def fail(message: str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print one readable error line (plus a hint) to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def looked_in() -> str | None:
    """"looked in <database>" for the running command's settings (None outside a command)."""
    settings = _settings.get()
    if settings is None:
        return None
    from service.usecases.info import database_label

    return f"looked in {database_label(settings)} (data dir {settings.data_dir}; `pricecast info` shows it)"


def fail_with(exc: PricecastError, *, hint: str | None = None) -> NoReturn:
    """Fail with a domain error, listing the bad rows an upload error names; a miss says where it looked."""
    if exc.code == "not_found" and (where := looked_in()):
        hint = f"{where}; {hint}" if hint else where
    details = exc.details if isinstance(exc.details, dict) else {}
    for row in details.get("rows", []):
        where = f"line {row['line']}" if "line" in row else f"index {row.get('index')}"
        err_console.print(f"  {where}, column {row['column']}: {row['value']!r}: {row['reason']}",
                          highlight=False, markup=False)
    if details.get("omitted"):
        err_console.print(f"  ... and {details['omitted']} more", highlight=False)
    fail(exc.message, hint=hint)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, indent=2) + "\n")


def is_terminal() -> bool:
    return sys.stdout.isatty()
