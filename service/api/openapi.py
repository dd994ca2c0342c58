"""The OpenAPI document and /docs: the key as a security scheme, the responses each operation can give,
and Swagger UI served by the service itself (the swagger-ui-bundle-v2 package), so /docs works offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute

from service.api.auth import READ, route_need
from service.api.routing import flat_routes
from service.errors import NotFound
from service.schemas.errors import ErrorResponse

# Swagger UI's own files, shipped as package data (Apache-2.0; its LICENSE is in the package's dist-info).
DOCS_ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
               "favicon-32x32.png": "image/png"}
SECURITY_SCHEMES = {
    "bearerKey": {"type": "http", "scheme": "bearer",
                  "description": "An API key (`pricecast keys create`) as `Authorization: Bearer <key>`"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "The same API key in the `X-API-Key` header"},
}
_E = {"model": ErrorResponse}
# Answers that come from the key check (AuthMiddleware), so only routes that need a key can give them.
_AUTH_RESPONSES = {
    401: {**_E, "description": "Missing, unknown or revoked API key"},
    429: {**_E, "description": "Rate limited (or, for training, the queue is full); see Retry-After"},
}
_FORBIDDEN = {403: {**_E, "description": "A read-only key on a write"}}
_INVALID = {422: {**_E, "description": "Invalid input; details name the field, row or value"}}
_INTERNAL = {500: {**_E, "description": "Unexpected error (logged with the request id)"}}


def swagger_ui_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def _takes_input(route: APIRoute) -> bool:
    d = route.dependant
    pending = [d]
    while pending:
        dep = pending.pop()
        if dep.path_params or dep.query_params or dep.header_params or dep.cookie_params or dep.body_params:
            return True
        pending.extend(dep.dependencies)
    return bool(route.openapi_extra and "requestBody" in route.openapi_extra)


def document_responses(app: FastAPI) -> None:
    """Give each operation the error answers it can really give: 401/429 (and 403 for writes) only
    where a key is checked, 422 only where there is input to reject, 500 everywhere."""
    for route in flat_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        need = route_need(route)
        extra: dict[int | str, Any] = dict(_INTERNAL)
        if need is not None:
            extra |= _AUTH_RESPONSES | ({} if need == READ else _FORBIDDEN)
        if _takes_input(route):
            extra |= _INVALID
        route.responses = {**extra, **route.responses}


def install_openapi(app: FastAPI, *, public_reads: bool) -> None:
    """The document with its security schemes, and /docs from local assets (no CDN)."""
    document_responses(app)
    needs = {(route.path_format, method.lower()): route_need(route)
             for route in flat_routes(app.routes) if isinstance(route, APIRoute) for method in route.methods}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in doc.get("paths", {}).items():
                for method, operation in operations.items():
                    need = needs.get((path, method))
                    if need is None:
                        operation["security"] = []  # open: health, metrics, config
                    else:
                        operation["security"] = [{"bearerKey": []}, {"apiKeyHeader": []}] + (
                            [{}] if need == READ and public_reads else [])
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="pricecast API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png",
                                   oauth2_redirect_url=None)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def swagger_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise NotFound(f"docs asset {name!r} not found")
        return FileResponse(swagger_ui_dir() / name, media_type=DOCS_ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
