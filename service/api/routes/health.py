"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from service import migrate
from service.api.deps import SettingsDep
from service.errors import Unavailable
from service.schemas.errors import ErrorResponse
from service.schemas.health import HealthRead

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthRead)
async def healthz() -> HealthRead:
    """The process is up (answered on the event loop: a busy thread pool cannot delay it)."""
    return HealthRead(status="ok")


@router.get("/readyz", response_model=HealthRead, responses={503: {"model": ErrorResponse}})
def readyz(request: Request, settings: SettingsDep) -> HealthRead:
    """The database answers and its schema is at the migrations' head."""
    try:
        current, head = migrate.schema_status(settings, request.app.state.engine)
    except SQLAlchemyError as exc:
        raise Unavailable(f"database unreachable: {type(exc).__name__}", headers={"Retry-After": "1"}) from None
    if current != head:
        raise Unavailable(f"schema at {current or 'nothing'}, expected {head}: run `pricecast migrate`",
                          details={"schema_revision": current, "head_revision": head})
    return HealthRead(status="ready", schema_revision=current, head_revision=head)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                                                  "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latencies, uploads, forecasts, caches, jobs, queue depth, model age."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
