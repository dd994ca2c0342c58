"""The FastAPI application factory: create_app(settings)."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from service import migrate
from service.api.auth import Authenticator
from service.api.errors import install_error_handlers
from service.api.metrics import Metrics, StateCollector
from service.api.middleware import AccessLogMiddleware, BodyLimitMiddleware, RequestIdMiddleware
from service.api.routes import config, forecast, health, jobs, models, page, series
from service.forecasting import warm_models
from service.migrate import SchemaBehind  # noqa: F401  (raised by check_schema; imported from here by callers)
from service.schemas import ErrorResponse
from service.settings import Settings
from service.usecases.runtime import build_runtime
from service.worker import EmbeddedWorker, Reaper

log = logging.getLogger("pricecast")


def check_schema(settings: Settings) -> None:
    """Migrate the embedded SQLite file; refuse any other database whose schema is behind."""
    migrate.ensure_schema(settings)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_access(settings: Settings, auth: Authenticator) -> str:
    """Refuse an open service on a non-loopback address; return a line saying how access works."""
    if not auth.is_open():
        return "API keys required (reads too)" if not settings.public_reads else "API keys required for writes"
    if not is_loopback(settings.host) and not settings.allow_open:
        raise OpenService(
            f"refusing to serve on {settings.host} with no API key configured: create one with "
            "`pricecast keys create --name admin`, or set PRICECAST_BOOTSTRAP_KEY, or set PRICECAST_ALLOW_OPEN=true")
    return f"OPEN: no API key configured, anyone who can reach {settings.host} can read and write"


class OpenService(RuntimeError):
    """No key configured on a non-loopback address."""


def _warm(app: FastAPI) -> None:
    try:
        warm_models(app.state.settings, app.state.sessionmaker, app.state.caches)
    except Exception as exc:  # noqa: BLE001 - a cold cache is only slower
        log.warning("model cache not warmed: %s", exc)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings. The engine is created here, never at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_schema(settings)
        log.warning("access: %s", check_access(settings, app.state.auth))
        background: EmbeddedWorker | Reaper
        if settings.embedded_worker:
            background = EmbeddedWorker(app.state.runtime)
        else:
            background = Reaper(app.state.runtime)
        background.start()
        warming = threading.Thread(target=_warm, args=(app,), name="pricecast-warm-models", daemon=True)
        warming.start()
        log.info("job queue %s; embedded worker %s", settings.queue.split("@")[-1],
                 "on" if settings.embedded_worker else "off")
        try:
            yield
        finally:
            background.stop()
            warming.join(timeout=30)
            app.state.engine.dispose()

    app = FastAPI(
        title="pricecast",
        version="0.1.0",
        description="Daily price series in, next-step forecasts out: one LSTM per ticker, "
        "always reported next to the naive forecast 'tomorrow = today'.",
        lifespan=lifespan,
        responses={
            401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
            403: {"model": ErrorResponse, "description": "Read-only key on a write"},
            422: {"model": ErrorResponse, "description": "Invalid input; details name the field, row or value"},
            429: {"model": ErrorResponse, "description": "Rate limited or queue full; see Retry-After"},
            500: {"model": ErrorResponse, "description": "Unexpected error (logged with the request id)"},
        },
    )
    app.state.settings = settings
    # What the use cases need; the aliases below are for the health checks, metrics and auth.
    app.state.runtime = runtime = build_runtime(settings)
    app.state.engine, app.state.sessionmaker = runtime.engine, runtime.sessions
    app.state.caches, app.state.queue = runtime.caches, runtime.queue
    app.state.auth = Authenticator(settings, app.state.sessionmaker)
    install_error_handlers(app)
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(StateCollector(app.state))
    app.add_middleware(GZipMiddleware, minimum_size=4096)  # series and backtests are large JSON
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AccessLogMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    # Routes are matched in order: the hot path (POST /forecast) first, then health checks.
    app.include_router(forecast.router)
    app.include_router(health.router)
    app.include_router(config.router)
    app.include_router(series.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(page.router)
    return app
