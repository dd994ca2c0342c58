"""The `pricecast` command line. Each submodule registers the commands for one noun."""

from __future__ import annotations

from service.cli import backtest  # noqa: F401  (registers commands)
from service.cli.app import app


def main() -> None:
    """Run the pricecast CLI."""
    app()
