from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from service.cli import app


@pytest.fixture
def pricecast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Run `pricecast ARGS` (the real Typer app, in this process) on a data directory of this test's own.

    Keyword arguments are settings for that run: pricecast("serve", port="0") sets PRICECAST_PORT=0.
    """
    for name in [k for k in os.environ if k.startswith("PRICECAST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    base = {"PRICECAST_DATA_DIR": str(tmp_path / "var"), "PRICECAST_LOG_LEVEL": "warning"}
    runner = CliRunner()

    def run(*args: str, **settings: str) -> Result:
        env = base | {f"PRICECAST_{k.upper()}": v for k, v in settings.items()}
        return runner.invoke(app, list(args), env=env)

    yield run


TINY_FLAGS = ("--window", "8", "--hidden-size", "4", "--epochs", "2", "--batch-size", "64")
