"""Settings' limits in the OpenAPI document (they are unknown when routes are declared).

Every constraint the server enforces is in the document (issue 13, row 22): the routes and
schemas declare the fixed ones; these are the ones a deployment sets (page sizes, tickers per
request), written into the generated document once, when it is first asked for.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.schemas.series import POINT_SCHEMA
from service.settings import Settings


def _integer_branch(schema: dict) -> dict:
    """The integer schema inside `int | None` (anyOf) or the schema itself."""
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "integer":
            return branch
    return schema


def _query(doc: dict, path: str, name: str) -> dict:
    for param in doc["paths"][path]["get"]["parameters"]:
        if param["name"] == name:
            return _integer_branch(param["schema"])
    raise KeyError(f"{path} has no query parameter {name}")


def _property(doc: dict, component: str, name: str) -> dict:
    prop = doc["components"]["schemas"][component]["properties"][name]
    for branch in prop.get("anyOf", []):
        if branch.get("type") == "array":
            return branch
    return prop


def apply_settings(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Write the settings' limits into a generated OpenAPI document (in place) and return it."""
    _query(doc, "/jobs", "limit")["maximum"] = settings.jobs_page_max
    _query(doc, "/series/{ticker}", "limit")["maximum"] = settings.series_page_max
    _property(doc, "BulkTrainRequest", "tickers")["maxItems"] = settings.max_bulk_tickers
    _property(doc, "ForecastRequest", "tickers")["maxItems"] = settings.max_batch_tickers
    # FastAPI's OpenAPI models hold bounds as floats, and 2^63 - 1 (the largest volume) is no float:
    # put the exact integers back.
    _property(doc, "ForecastRequest", "prices")["items"] = POINT_SCHEMA
    return doc


def install(app: FastAPI, settings: Settings) -> None:
    """Make app.openapi() return the document with these settings' limits.

    It wraps whatever app.openapi is now: call it after anything else that replaces app.openapi."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = apply_settings(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
