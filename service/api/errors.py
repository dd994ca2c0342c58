"""One error shape for every 4xx/5xx: {"error": {code, message, details}, "request_id"}."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service.api.routing import allowed_methods, flat_routes
from service.errors import PricecastError, code_for_status

log = logging.getLogger("pricecast.api")


def request_id_of(request: Request) -> str:
    return getattr(request.state, "request_id", "-")


def _json_safe(value: Any) -> Any:
    """Echoed input may hold NaN or infinity, which JSON cannot carry: send those as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def error_response(request_id: str, status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": _json_safe(details)}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), "X-Request-ID": request_id})


_SCALAR = str | int | float | bool | type(None)


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        value = err.get("input")
        if isinstance(value, list) and len(value) <= 20 and all(isinstance(v, _SCALAR) for v in value):
            pass  # short lists of scalars (interval levels, tickers) are echoed as given
        elif not isinstance(value, _SCALAR):
            value = None
        fields.append({"field": ".".join(loc) or None, "value": value, "reason": err.get("msg")})
    return {"fields": fields[:100]}


def _validation_message(first: dict[str, Any]) -> str:
    """One sentence for the first problem: `field=value: reason`, or just the reason for the whole body."""
    if first["field"] is None:
        return first["reason"]
    if first["value"] is None:
        return f"{first['field']}: {first['reason']}"
    return f"{first['field']}={first['value']!r}: {first['reason']}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PricecastError)
    async def _domain(request: Request, exc: PricecastError) -> JSONResponse:
        return error_response(request_id_of(request), exc.status_code, exc.code, exc.message,
                              exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details["fields"][0] if details["fields"] else {"field": None, "value": None, "reason": "invalid"}
        return error_response(request_id_of(request), 422, "invalid_input", _validation_message(first), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not parse: invalid input like any other
            return error_response(request_id_of(request), 422, "invalid_input", f"body: {exc.detail}",
                                  {"field": "body"})
        code = code_for_status(exc.status_code)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # several routes share a path: Allow lists all their methods
            headers["Allow"] = ", ".join(allowed_methods(flat_routes(request.app.router.routes), request.scope))
        return error_response(request_id_of(request), exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody is left to answer; the access log records 499 (middleware.AccessLogMiddleware).
        return Response(status_code=499)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        return database_error(request_id_of(request), exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id_of(request)
        log.exception("unhandled error request_id=%s path=%s", rid, request.url.path)
        return error_response(rid, 500, "internal", f"internal error; quote request id {rid}")


def database_error(rid: str, exc: DBAPIError) -> JSONResponse:
    """503 when the database is unreachable or busy (retry), else 500 logged with its stack trace."""
    if exc.connection_invalidated or _is_unavailable(exc):
        log.warning("database unavailable request_id=%s: %s", rid, exc.orig)
        return error_response(rid, 503, "unavailable", "the database is unavailable; retry shortly",
                              headers={"Retry-After": "1"})
    log.error("database error request_id=%s", rid, exc_info=exc)
    return error_response(rid, 500, "internal", f"internal error; quote request id {rid}")


def _is_unavailable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(s in text for s in ("connection", "could not connect", "server closed", "database is locked",
                                   "terminating connection", "timeout"))
