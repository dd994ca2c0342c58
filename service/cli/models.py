"""`pricecast models export|import`: one checkpoint as a single safetensors file."""

from __future__ import annotations

from pathlib import Path

import typer

from service.cli.app import app, console, fail, fail_with, print_json, runtime_of
from service.errors import PricecastError

models_app = typer.Typer(help="Copy a model version's checkpoint to or from a single safetensors file.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("export")
def export(ctx: typer.Context, ticker: str = typer.Argument(..., help="ticker"),
           file: Path = typer.Argument(..., help="the .safetensors file to write"),
           version: int = typer.Option(None, "--version", min=1, help="version (default: the active one)")) -> None:
    """Write a version's checkpoint to FILE, after checking it against its sha256.

    Example: pricecast models export SPX spx.safetensors --version 3
    """
    from models.checkpoints import write
    from service.usecases.registry import export_model

    try:
        model, data = export_model(runtime_of(ctx), symbol=ticker.upper(), version=version)
    except PricecastError as exc:
        fail_with(exc)
    try:
        sha = write(file, data)
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
    console.print(f"{ticker.upper()} version {model.version}: {len(data)} bytes to {file} (sha256 {sha})",
                  highlight=False, markup=False)


@models_app.command("import")
def import_(ctx: typer.Context, ticker: str = typer.Argument(..., help="a stored ticker"),
            file: Path = typer.Argument(..., help="a .safetensors checkpoint (from `pricecast models export`)"),
            sha256: str = typer.Option(None, "--sha256", help="refuse the file unless its sha256 is this"),
            json_out: bool = typer.Option(False, "--json", help="print the new version as JSON")) -> None:
    """Register FILE as a new version of TICKER: active if it has none, else a candidate to activate.

    The file is read as safetensors only (never unpickled); its metadata and weights hash are checked.
    Example: pricecast models import SPX spx.safetensors
    """
    from service.usecases.registry import MAX_IMPORT_BYTES, import_model

    try:
        with file.open("rb") as f:
            data = f.read(MAX_IMPORT_BYTES + 1)  # a larger file is refused without reading all of it
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        model = import_model(runtime_of(ctx), symbol=ticker.upper(), data=data, expected_sha256=sha256)
    except PricecastError as exc:
        fail_with(exc, hint=f"pricecast import {ticker.upper()} PRICES.csv" if exc.code == "not_found" else None)
    if json_out:
        print_json(model.model_dump(mode="json"))
    else:
        console.print(f"{ticker.upper()} version {model.version} ({model.status}): {model.promotion}",
                      highlight=False, markup=False)
