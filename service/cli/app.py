"""The Typer application object and the shared callback that builds Settings once."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pricecast",
    help="pricecast: upload daily prices, train one LSTM per ticker, forecast the next step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
