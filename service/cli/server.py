"""`pricecast serve` and `pricecast migrate`."""

from __future__ import annotations

import errno
import gc
import logging
import socket

import typer

from service.cli.app import app, console, fail, settings_of


def ensure_port_free(host: str, port: int) -> None:
    """Fail now, with one line, if host:port cannot be bound (before any training or start-up work).

    The probe binds as uvicorn does (SO_REUSEADDR), so a port only in TIME_WAIT counts as free.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is already in use (another pricecast, or another program)",
                     hint=f"stop that one, or pick another port: --port {port + 1} (or PRICECAST_PORT={port + 1})")
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                 hint="check --host / PRICECAST_HOST and --port / PRICECAST_PORT")


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="bind address (default PRICECAST_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default PRICECAST_PORT, 8000)"),
    no_worker: bool = typer.Option(False, "--no-worker",
                                   help="do not run jobs in this process (API-only node; PRICECAST_EMBEDDED_WORKER=false)"),
) -> None:
    """Start the HTTP API (and, unless --no-worker, a job consumer inside it).

    Example: pricecast serve --port 8000
    """
    import uvicorn

    from service.api import OpenService, SchemaBehind, check_start, create_app
    from service.api.protocol import EdgeLimits, connection_cap, make_protocol
    from service.logs import configure_logging
    from service.settings import mask_url

    settings = settings_of(ctx).model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    if no_worker:
        settings = settings.model_copy(update={"embedded_worker": False})
    ensure_port_free(settings.host, settings.port)
    try:
        app_ = create_app(settings)
        access = check_start(app_)  # the lifespan finds it done: schema and access are checked once
    except SchemaBehind as exc:
        fail(str(exc), hint="run `pricecast migrate` against this database, then start again")
    except OpenService as exc:
        fail(str(exc), hint="bind to 127.0.0.1 for local use")
    except Exception as exc:  # noqa: BLE001 - a start-up failure is one readable line, secrets masked
        fail(f"cannot open the database {mask_url(settings.db_url)}: {settings.redact(str(exc))}",
             hint="check PRICECAST_DATABASE_URL and that the server is running")
    cap = connection_cap(settings.max_connections)
    console.print(f"pricecast serving on http://{settings.host}:{settings.port}  (page: /, API docs: /docs)\n"
                  f"access: {access}", highlight=False)
    configure_logging(settings)
    if cap < settings.max_connections:
        logging.getLogger("pricecast.edge").warning(
            "PRICECAST_MAX_CONNECTIONS=%d lowered to %d to stay under the open-files limit",
            settings.max_connections, cap)
    protocol = make_protocol(EdgeLimits(max_header_bytes=settings.max_header_bytes,
                                        header_timeout=settings.header_timeout,
                                        body_timeout=settings.body_timeout, max_connections=cap))
    # What is loaded now (torch, numpy, SQLAlchemy...) lives as long as the process: keep it out
    # of the collector's full passes, which cost 200+ ms each on this heap and landed inside
    # requests (bench/ingest.py: the slowest uploads went from 238-263 ms to under 75 ms).
    gc.collect()
    gc.freeze()
    uvicorn.run(app_, host=settings.host, port=settings.port, log_config=None, log_level=settings.log_level,
                http=protocol, ws="none", timeout_keep_alive=settings.keepalive_timeout,
                backlog=min(2048, cap), timeout_graceful_shutdown=30)


@app.command()
def migrate(ctx: typer.Context, revision: str = typer.Argument("head", help="target revision")) -> None:
    """Upgrade the database schema to head (or to REVISION).

    Example: PRICECAST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/pricecast pricecast migrate
    """
    from service import migrate as migrations
    from service.settings import mask_url

    settings = settings_of(ctx)
    try:
        migrations.upgrade(settings, revision)
    except Exception as exc:  # noqa: BLE001
        fail(f"migration of {mask_url(settings.db_url)} failed: {settings.redact(str(exc))}",
             hint="check PRICECAST_DATABASE_URL")
    console.print(f"database at revision {migrations.head_revision(settings) if revision == 'head' else revision}")
