"""`pricecast keys create | list | revoke`."""

from __future__ import annotations

import typer
from rich.table import Table

from service.cli.app import app, console, err_console, fail_with, print_json, runtime_of, settings_of
from service.errors import PricecastError

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(ctx: typer.Context, name: str = typer.Option(..., help="who or what the key is for"),
           read_only: bool = typer.Option(False, "--read-only", help="reads only: no uploads, training or changes"),
           json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Create an API key and print it once (only its SHA-256 digest is stored).

    Example: pricecast keys create --name dashboards --read-only
    """
    from service.usecases import keys
    from service.usecases.info import database_label

    rt = runtime_of(ctx)
    try:
        info, secret = keys.new_key(rt, name=name, read_only=read_only)
    except PricecastError as exc:
        fail_with(exc)
    settings = settings_of(ctx)
    first = settings.bootstrap_key is None and sum(k.revoked_at is None for k in keys.read_keys(rt)) == 1
    if json_out:
        print_json({"id": info.id, "name": info.name, "read_only": info.read_only, "key": secret,
                    "authentication_now_required": first})
    else:
        console.print(f"key {info.id} ({info.name}, {'read-only' if read_only else 'read-write'}):\n{secret}\n"
                      "Store it now: it is not shown again. Send it as `Authorization: Bearer <key>`.",
                      highlight=False, markup=False)
    if first:
        # The server was open until now; within PRICECAST_AUTH_CACHE_SECONDS it no longer is.
        reads = "writes" if settings.public_reads else "every request (reads too)"
        err_console.print(
            f"Authentication is now required: this was the first API key, so servers on this database "
            f"({database_label(settings)}) now refuse {reads} without a key (401).\n"
            "Pass the key:\n"
            "  curl -H \"Authorization: Bearer $PRICECAST_API_KEY\" ...   (or -H \"X-API-Key: $PRICECAST_API_KEY\")\n"
            "  export PRICECAST_API_KEY=<the key above>; pricecast forecast SPX --url http://127.0.0.1:8000\n"
            "  the page: paste it into its API key field\n"
            "To open the server again, revoke every key: pricecast keys list; pricecast keys revoke ID",
            highlight=False, markup=False)


@keys_app.command("list")
def list_(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List keys (never their secrets).

    Example: pricecast keys list
    """
    from service.usecases import keys

    rows = keys.read_keys(runtime_of(ctx))
    if json_out:
        print_json({"keys": [r.__dict__ for r in rows]})
        return
    table = Table("id", "name", "starts with", "access", "created", "revoked")
    for r in rows:
        table.add_row(str(r.id), r.name, r.prefix + "...", "read-only" if r.read_only else "read-write",
                      f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, key_id: int = typer.Argument(..., help="the key's id (see `pricecast keys list`)")) -> None:
    """Revoke a key; servers stop accepting it within PRICECAST_AUTH_CACHE_SECONDS.

    Example: pricecast keys revoke 3
    """
    from service.usecases import keys

    try:
        keys.revoke(runtime_of(ctx), key_id=key_id)
    except PricecastError as exc:
        fail_with(exc, hint="pricecast keys list")
    console.print(f"key {key_id} revoked")
