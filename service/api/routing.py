"""Find the route a request will reach before the router does: for access checks and `Allow`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route in matching order, looking inside included routers.

    FastAPI keeps an included router as one entry (with `original_router`) whose `matches` needs
    the router's own scope keys; its routes match on their own as long as it has no prefix.
    """
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def _bare(scope: Scope, method: str) -> Scope:
    # Only what matching needs: the router's private scope keys would steer FastAPI's routes.
    return {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""), "method": method}


def find_route(routes: Iterable[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that fully matches (path and method), as the router picks it, or None."""
    bare = _bare(scope, scope["method"])
    for route in routes:
        match, _ = route.matches(bare)
        if match == Match.FULL:
            return route
    return None


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route accepts at this path (for the `Allow` header of a 405)."""
    methods: set[str] = set()
    for route in routes:
        wanted: Any = getattr(route, "methods", None)
        if not wanted:
            continue
        match, _ = route.matches(_bare(scope, next(iter(wanted))))
        if match == Match.FULL:
            methods |= set(wanted)
    return sorted(methods)
