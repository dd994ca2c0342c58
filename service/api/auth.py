"""API keys and rate limits, as FastAPI dependencies: `Read`, `Write` and `Train`.

Keys come as `Authorization: Bearer <key>` or `X-API-Key: <key>`. With no key configured (no
unrevoked key in the table and no PRICECAST_BOOTSTRAP_KEY) the service is open; `serve` allows
that only on a loopback address unless PRICECAST_ALLOW_OPEN=true. Lookups are cached for
PRICECAST_AUTH_CACHE_SECONDS, so a revoked key stops working within that time.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.orm import sessionmaker

from service import keys
from service.errors import Forbidden, RateLimited, Unauthorized
from service.settings import Settings, parse_rate


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key id (0 for the bootstrap key) or, when open, the client address."""

    name: str
    read_only: bool


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
        bootstrap = settings.bootstrap_key.get_secret_value() if settings.bootstrap_key else None
        self.bootstrap = bootstrap
        self._keys: dict[str, tuple[Principal | None, float]] = {}
        self._open: tuple[bool, float] = (False, 0.0)
        self.requests = RateLimiter(settings.rate_limit)
        self.training = RateLimiter(settings.train_rate_limit)

    def is_open(self) -> bool:
        """No key configured: no unrevoked key in the table and no bootstrap key."""
        if self.bootstrap:
            return False
        value, expires = self._open
        if time.monotonic() >= expires:
            with self.factory() as session:
                value = not keys.any_active_key(session)
            self._open = (value, time.monotonic() + self.ttl)
        return value

    def principal(self, secret: str) -> Principal | None:
        if self.bootstrap and hmac.compare_digest(secret.encode(), self.bootstrap.encode()):
            return Principal("key:bootstrap", read_only=False)
        digest = keys.digest(secret)
        cached = self._keys.get(digest)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        with self.factory() as session:
            row = keys.find_active_key(session, secret=secret)
            found = Principal(f"key:{row.id}", read_only=row.read_only) if row else None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (found, time.monotonic() + self.ttl)
        return found

    def check(self, request: Request, *, write: bool, train: bool = False) -> Principal:
        secret = _secret(request)
        if secret is None and (self.is_open() or (not write and self.settings.public_reads)):
            who = Principal(f"ip:{request.client.host if request.client else '-'}", read_only=False)
        elif secret is None:
            raise Unauthorized("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                               headers={"WWW-Authenticate": "Bearer"})
        else:
            found = self.principal(secret)
            if found is None:
                raise Unauthorized("the API key is not valid (unknown or revoked)", headers={"WWW-Authenticate": "Bearer"})
            who = found
        if write and who.read_only:
            raise Forbidden("this API key is read-only; uploads, deletes, training, activation and cancel "
                            "need a read-write key")
        request.state.principal = who.name  # logged per request; the key itself never is
        for limiter, setting in ((self.requests, "PRICECAST_RATE_LIMIT"),) + (
                ((self.training, "PRICECAST_TRAIN_RATE_LIMIT"),) if train else ()):
            wait = limiter.take(who.name)
            if wait:
                raise RateLimited(f"rate limit exceeded ({setting}); retry in {math.ceil(wait)} s",
                                  headers={"Retry-After": str(math.ceil(wait))})
        return who


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


async def _read(request: Request) -> Principal:
    return request.app.state.auth.check(request, write=False)


async def _write(request: Request) -> Principal:
    return request.app.state.auth.check(request, write=True)


async def _train(request: Request) -> Principal:
    return request.app.state.auth.check(request, write=True, train=True)


Read = Depends(_read)
Write = Depends(_write)
Train = Depends(_train)
