"""The `pricecast` command line. Each submodule registers the commands for one noun."""

from __future__ import annotations

# Each module registers its commands.
from service.cli import backtest, demo, forecast, info, jobs, keys, models, series, server  # noqa: F401
from service.cli.app import app


def main() -> None:
    """Run the pricecast CLI."""
    app()
