"""`pricecast keys create | list | revoke`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service import keys
from service.cli.app import app, console, fail, print_json, settings_of
from service.cli.series import open_sessions
from service.db import session_scope
from service.errors import PricecastError
from service.settings import mask_url

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@contextmanager
def _unit_of_work(ctx: typer.Context) -> Iterator[Session]:
    """A committed session; a database error is one line, with the URL's password masked."""
    settings = settings_of(ctx)
    try:
        with session_scope(open_sessions(settings)) as session:
            yield session
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"database {mask_url(settings.db_url)}: {settings.redact(str(exc))}",
             hint="check PRICECAST_DATABASE_URL and that the server is running")


@keys_app.command("create")
def create(ctx: typer.Context, name: str = typer.Option(..., help="who or what the key is for"),
           read_only: bool = typer.Option(False, "--read-only", help="reads only: no uploads, training or changes"),
           json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Create an API key and print it once (only its SHA-256 digest is stored).

    Example: pricecast keys create --name dashboards --read-only
    """
    try:
        with _unit_of_work(ctx) as session:
            row, secret = keys.create_key(session, name=name, read_only=read_only)
            out = {"id": row.id, "name": row.name, "read_only": row.read_only, "key": secret}
    except PricecastError as exc:
        fail(exc.message)
    if json_out:
        print_json(out)
        return
    console.print(f"key {out['id']} ({name}, {'read-only' if read_only else 'read-write'}):\n{secret}\n"
                  "Store it now: it is not shown again. Send it as `Authorization: Bearer <key>`.", highlight=False)


@keys_app.command("list")
def list_(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List keys (never their secrets).

    Example: pricecast keys list
    """
    with _unit_of_work(ctx) as session:
        rows = [{"id": r.id, "name": r.name, "prefix": r.prefix, "read_only": r.read_only,
                 "created_at": r.created_at, "revoked_at": r.revoked_at} for r in keys.list_keys(session)]
    if json_out:
        print_json({"keys": rows})
        return
    table = Table("id", "name", "starts with", "access", "created", "revoked")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], r["prefix"] + "...", "read-only" if r["read_only"] else "read-write",
                      f"{r['created_at']:%Y-%m-%d %H:%M}", f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "")
    console.print(table)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, key_id: int = typer.Argument(..., help="the key's id (see `pricecast keys list`)")) -> None:
    """Revoke a key: no write is accepted with it once this returns; reads stop within PRICECAST_AUTH_CACHE_SECONDS.

    Example: pricecast keys revoke 3
    """
    try:
        with _unit_of_work(ctx) as session:
            keys.revoke_key(session, key_id=key_id)
    except PricecastError as exc:
        fail(exc.message, hint="pricecast keys list")
    console.print(f"key {key_id} revoked")
