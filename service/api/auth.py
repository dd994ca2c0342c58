"""API keys and rate limits: decided per request, before the body is read.

Keys come as `Authorization: Bearer <key>` or `X-API-Key: <key>`. A route states what it needs
with the dependency `Read`, `Write` or `Train`; AuthMiddleware finds the route before the router
does and checks the key first, so an unauthenticated client never gets its body read or parsed.

Access follows the keys as they are now, in every process:
- a write (upload, delete, train, activate, cancel) looks its key up in the database every time,
  so a revoked key cannot write once the revocation has committed;
- a read may use a lookup up to PRICECAST_AUTH_CACHE_SECONDS old (default 1 s): the forecast hot
  path then costs no extra query;
- no key configured (no unrevoked key in the table and no PRICECAST_BOOTSTRAP_KEY) means open,
  but only on a loopback address or with PRICECAST_ALLOW_OPEN=true. That rule is applied to every
  request, not only at start: revoking the last key of a server on 0.0.0.0 does not open it.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service import keys
from service.api.errors import database_error, error_response
from service.api.routing import find_route, flat_routes
from service.db import read_only_sessions
from service.errors import Forbidden, PricecastError, RateLimited, Unauthorized
from service.settings import Settings, parse_rate

READ, WRITE, TRAIN = "read", "write", "train"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PRINCIPAL = "pricecast.principal"  # scope["state"] key: set once the request is authorized


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key id (0 for the bootstrap key) or, when open, the client address."""

    name: str
    read_only: bool


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimiter:
    """Token buckets per caller, in this process (each API instance limits on its own)."""

    def __init__(self, rate: str) -> None:
        parsed = parse_rate(rate)
        self.capacity, self.refill = parsed if parsed else (math.inf, math.inf)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, who: str) -> float:
        """Spend one token; return 0, or the seconds to wait before one is available."""
        if self.capacity == math.inf:
            return 0.0
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(who, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill)
            if tokens < 1:
                self.buckets[who] = (tokens, now)
                return (1 - tokens) / self.refill
            self.buckets[who] = (tokens - 1, now)
            if len(self.buckets) > 100_000:  # forget idle callers
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 3600}
            return 0.0


class Authenticator:
    def __init__(self, settings: Settings, factory: sessionmaker) -> None:
        self.settings, self.factory = settings, factory
        self.ttl = settings.auth_cache_seconds
        self.bootstrap = settings.bootstrap_key.get_secret_value() if settings.bootstrap_key else None
        # Open (no key configured) is allowed only here; elsewhere a keyless request is refused.
        self.open_allowed = is_loopback(settings.host) or settings.allow_open
        self._keys: dict[str, tuple[Principal | None, float]] = {}
        self._open: tuple[bool, float] = (False, 0.0)
        self._limiter: anyio.CapacityLimiter | None = None
        self.requests = RateLimiter(settings.rate_limit)
        self.training = RateLimiter(settings.train_rate_limit)

    def is_open(self, *, fresh: bool = False) -> bool:
        """No key configured: no unrevoked key in the table and no bootstrap key."""
        if self.bootstrap:
            return False
        value, expires = self._open
        if fresh or time.monotonic() >= expires:
            with read_only_sessions(), self.factory() as session:
                value = not keys.any_active_key(session)
            self._open = (value, time.monotonic() + self.ttl)
        return value

    async def _is_open_now(self, fresh: bool) -> bool:
        value, expires = self._open
        if self.bootstrap or (not fresh and time.monotonic() < expires):
            return not self.bootstrap and value
        return await self._lookup(self.is_open, fresh=True)

    def _is_bootstrap(self, secret: str) -> bool:
        return bool(self.bootstrap) and hmac.compare_digest(secret.encode(), self.bootstrap.encode())

    def principal(self, secret: str, *, fresh: bool = False) -> Principal | None:
        """The key's principal, or None for an unknown or revoked key (fresh: skip the cache)."""
        if self._is_bootstrap(secret):
            return Principal("key:bootstrap", read_only=False)
        digest = keys.digest(secret)
        cached = self._cached(digest) if not fresh else None
        if cached is not None:
            return cached[0]
        with read_only_sessions(), self.factory() as session:
            row = keys.find_active_key(session, secret=secret)
            found = Principal(f"key:{row.id}", read_only=row.read_only) if row else None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (found, time.monotonic() + self.ttl)
        return found

    def _cached(self, digest: str) -> tuple[Principal | None] | None:
        entry = self._keys.get(digest)
        return (entry[0],) if entry is not None and time.monotonic() < entry[1] else None

    async def _lookup(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a database lookup in a worker thread: the event loop never waits on the database."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(16)
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs), limiter=self._limiter)

    async def authorize(self, scope: Scope, need: str) -> Principal:
        """Decide one request from its headers: the principal, or Unauthorized/Forbidden/RateLimited."""
        state = scope.setdefault("state", {})
        if _PRINCIPAL in state:  # already decided (by the middleware)
            return state[_PRINCIPAL]
        write = need != READ
        secret = _secret(Headers(scope=scope))
        if secret is None:
            if (not write and self.settings.public_reads) or (self.open_allowed and await self._is_open_now(write)):
                client = scope.get("client")
                who = Principal(f"ip:{client[0] if client else '-'}", read_only=False)
            else:
                raise Unauthorized("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                                   headers={"WWW-Authenticate": "Bearer"})
        else:
            if self._is_bootstrap(secret):
                found = Principal("key:bootstrap", read_only=False)
            else:
                cached = None if write else self._cached(keys.digest(secret))
                found = cached[0] if cached is not None else await self._lookup(self.principal, secret, fresh=write)
            if found is None:
                raise Unauthorized("the API key is not valid (unknown or revoked)", headers={"WWW-Authenticate": "Bearer"})
            who = found
        if write and who.read_only:
            raise Forbidden("this API key is read-only; uploads, deletes, training, activation and cancel "
                            "need a read-write key")
        for limiter, setting in ((self.requests, "PRICECAST_RATE_LIMIT"),) + (
                ((self.training, "PRICECAST_TRAIN_RATE_LIMIT"),) if need == TRAIN else ()):
            wait = limiter.take(who.name)
            if wait:
                raise RateLimited(f"rate limit exceeded ({setting}); retry in {math.ceil(wait)} s",
                                  headers={"Retry-After": str(math.ceil(wait))})
        state[_PRINCIPAL] = who
        state["principal"] = who.name  # logged per request; the key itself never is
        return who


def _secret(headers: Headers) -> str | None:
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


async def _read(request: Request) -> Principal:
    return await request.app.state.auth.authorize(request.scope, READ)


async def _write(request: Request) -> Principal:
    return await request.app.state.auth.authorize(request.scope, WRITE)


async def _train(request: Request) -> Principal:
    return await request.app.state.auth.authorize(request.scope, TRAIN)


Read = Depends(_read)
Write = Depends(_write)
Train = Depends(_train)
_NEEDS = {_read: READ, _write: WRITE, _train: TRAIN}
_STRENGTH = {None: 0, READ: 1, WRITE: 2, TRAIN: 3}
_UNSEEN = object()


def route_need(route: Any) -> str | None:
    """What a route needs (read, write, train) from the Read/Write/Train among its dependencies."""
    calls = [getattr(d, "dependency", None) for d in getattr(route, "dependencies", ())]
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:  # also `principal: Principal = Read` as a parameter, at any depth
        dep = pending.pop()
        calls.append(getattr(dep, "call", None))
        pending.extend(getattr(dep, "dependencies", ()))
    return max((_NEEDS.get(c) for c in calls), key=_STRENGTH.__getitem__, default=None)


class AuthMiddleware:
    """Authorize each request for the route it will reach before the app reads its body.

    A request that reads (its route needs a read key, or none and the method is safe) also runs
    its database sessions as readers: on SQLite they do not queue for the write lock (db.py).
    """

    def __init__(self, app: ASGIApp, router: Any, auth: Authenticator) -> None:
        self.app = app
        self.router, self.auth = router, auth
        self._routes: list[Any] | None = None
        self._needs: dict[int, str | None] = {}
        self._seen: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._routes is None:  # the routes are complete once the app serves
            self._routes = list(flat_routes(self.router.routes))
            self._needs = {id(r): route_need(r) for r in self._routes}
        key = (scope["method"], scope["path"])
        route = self._seen.get(key, _UNSEEN)
        if route is _UNSEEN:  # the hot paths (/forecast, /healthz) are the same few strings
            route = find_route(self._routes, scope)
            if len(self._seen) >= 4096:
                self._seen.clear()
            self._seen[key] = route
        need = self._needs.get(id(route)) if route is not None else None
        if need is not None:
            try:
                await self.auth.authorize(scope, need)
            except (PricecastError, DBAPIError) as exc:
                scope["route"] = route  # for the access log and metrics
                request_id = scope.get("state", {}).get("request_id", "-")
                if isinstance(exc, DBAPIError):  # the key lookup could not reach the database
                    response = database_error(request_id, exc)
                else:
                    response = error_response(request_id, exc.status_code, exc.code, exc.message, exc.details,
                                              exc.headers)
                await response(scope, receive, send)
                return
        if need in (WRITE, TRAIN) or (need is None and scope["method"] not in SAFE_METHODS):
            await self.app(scope, receive, send)
            return
        with read_only_sessions():
            await self.app(scope, receive, send)
