"""`pricecast info`: where this configuration keeps its data, and what is stored there."""

from __future__ import annotations

import typer

from service.cli.app import app, console, print_json, settings_of


@app.command()
def info(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Show the data directory, the database (password masked), the job queue, the checkpoint store,
    and how many tickers, models and API keys are stored. Creates and migrates nothing.

    The server and every CLI command use the same location: PRICECAST_DATA_DIR, else var/ in the
    source checkout (an installed package: ~/.local/share/pricecast), whatever the current
    directory; PRICECAST_DATABASE_URL and PRICECAST_QUEUE_URL override the database and the queue.

    Example: pricecast info    |    PRICECAST_DATA_DIR=/srv/pricecast pricecast info --json
    """
    from service.usecases.info import read_info

    out = read_info(settings_of(ctx))
    if json_out:
        print_json(out.data())
        return

    def count(n: int | None) -> str:
        return "-" if n is None else f"{n:,}"

    rows = [
        ("data dir", out.data_dir),
        ("database", out.database_url if out.database_url != "sqlite:///" + out.database else out.database + " (SQLite)"),
        ("schema", f"{out.schema_revision or '-'} (code: {out.head_revision})"),
        ("job queue", out.queue + ("; jobs run inside `pricecast serve`" if out.embedded_worker else "")),
        ("checkpoints", out.checkpoints),
        ("tickers", count(out.tickers)),
        ("models", f"{count(out.models)} ({count(out.active_models)} active)"),
        ("API keys", count(out.api_keys)),
        ("access", out.access),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        console.print(f"{key:<{width}}  {value}", highlight=False, markup=False)
    if out.problem:
        console.print(f"note: {out.problem}", highlight=False, markup=False)
