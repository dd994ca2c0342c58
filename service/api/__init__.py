"""The FastAPI application factory: create_app(settings)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from service import migrate
from service.api import limits
from service.api.auth import AuthMiddleware, Authenticator, is_loopback
from service.api.errors import install_error_handlers
from service.api.metrics import EdgeCollector, Metrics, StateCollector
from service.api.openapi import install_openapi
from service.api.middleware import AccessLogMiddleware, BodyGuardMiddleware, RequestIdMiddleware
from service.api.routes import config, forecast, health, jobs, models, page, series
from service.forecasting.caches import warm_models
from service.forecasting.forecasts import use_threads
from service.migrate import SchemaBehind  # noqa: F401  (raised by check_schema; imported from here by callers)
from service.settings import Settings, mask_url
from service.usecases.runtime import build_runtime
from service.worker import EmbeddedWorker, Reaper

log = logging.getLogger("pricecast")


def check_schema(settings: Settings) -> None:
    """Migrate the embedded SQLite file; refuse any other database whose schema is behind."""
    migrate.ensure_schema(settings)


def check_access(settings: Settings, auth: Authenticator) -> str:
    """Refuse to start open on a non-loopback address; return a line saying how access works.

    The same rule holds per request (auth.Authenticator): this only fails early and says so.
    """
    if not auth.is_open(fresh=True):
        return "API keys required (reads too)" if not settings.public_reads else "API keys required for writes"
    if not is_loopback(settings.host) and not settings.allow_open:
        raise OpenService(
            f"refusing to serve on {settings.host} with no API key configured: create one with "
            "`pricecast keys create --name admin`, or set PRICECAST_BOOTSTRAP_KEY, or set PRICECAST_ALLOW_OPEN=true")
    return f"OPEN: no API key configured, anyone who can reach {settings.host} can read and write"


def check_start(app: FastAPI) -> str:
    """The start-up checks (schema, then access), once per app; return the access line."""
    if app.state.access is None:
        check_schema(app.state.settings)
        app.state.access = check_access(app.state.settings, app.state.auth)
    return app.state.access


class OpenService(RuntimeError):
    """No key configured on a non-loopback address."""


def _warm(app: FastAPI) -> None:
    if not app.state.settings.warm_models:
        return
    try:
        warm_models(app.state.settings, app.state.sessionmaker, app.state.caches)
    except Exception as exc:  # noqa: BLE001 - a cold cache is only slower
        log.warning("model cache not warmed: %s", exc)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings. The engine is created here, never at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.warning("access: %s", check_start(app))  # `serve` ran it already, to fail with one line
        use_threads(settings)
        background: EmbeddedWorker | Reaper
        if settings.embedded_worker:
            background = EmbeddedWorker(app.state.runtime)
        else:
            background = Reaper(app.state.runtime)
        background.start()
        warming = threading.Thread(target=_warm, args=(app,), name="pricecast-warm-models", daemon=True)
        warming.start()
        log.info("job queue %s; embedded worker %s", mask_url(settings.queue),
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
        # Served by install_openapi from local assets: the FastAPI defaults load Swagger UI and
        # ReDoc from a CDN, which leaves /docs blank on a machine without internet.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # What the use cases need; the aliases below are for the health checks, metrics and auth.
    app.state.runtime = runtime = build_runtime(settings)
    app.state.engine, app.state.sessionmaker = runtime.engine, runtime.sessions
    app.state.caches, app.state.queue = runtime.caches, runtime.queue
    app.state.auth = Authenticator(settings, app.state.sessionmaker)
    app.state.access = None  # the access line, once check_start has run
    install_error_handlers(app)
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(StateCollector(app.state))
    app.state.metrics.registry.register(EdgeCollector())
    # Outermost last: request id, access log, the key (before any body byte), body bounds, gzip.
    app.add_middleware(GZipMiddleware, minimum_size=4096)  # series and backtests are large JSON
    app.add_middleware(BodyGuardMiddleware, max_bytes=settings.max_upload_bytes, max_json_depth=settings.max_json_depth)
    app.add_middleware(AuthMiddleware, router=app.router, auth=app.state.auth)
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
    install_openapi(app, public_reads=settings.public_reads)  # after every route: it documents them all
    limits.install(app, settings)  # last: it wraps app.openapi as it is then
    return app
