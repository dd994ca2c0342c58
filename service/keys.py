"""API keys: create (the secret is returned once), list, revoke, look up by digest."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.tables import ApiKey

KEY_PREFIX = "pc_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, *, name: str, read_only: bool = False) -> tuple[ApiKey, str]:
    """Create a key from 32 random bytes; return (row, secret). Only the digest is stored."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput(f"name={name!r}: must be 1-100 characters", details={"field": "name"})
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=secret[:10], digest=digest(secret), read_only=read_only)
    session.add(row)
    session.flush()
    return row, secret


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first (revoked ones too)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, *, key_id: int) -> ApiKey:
    """Revoke a key; requests with it fail once caches expire (PRICECAST_AUTH_CACHE_SECONDS)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"key {key_id} not found; list them with `pricecast keys list`", details={"key_id": key_id})
    if row.revoked_at is not None:
        raise Conflict(f"key {key_id} was already revoked at {row.revoked_at:%Y-%m-%dT%H:%M:%SZ}",
                       details={"key_id": key_id})
    row.revoked_at = utcnow()
    session.flush()
    return row


def find_active_key(session: Session, *, secret: str) -> ApiKey | None:
    """The unrevoked key with this secret, or None (an indexed lookup by digest)."""
    return session.scalar(select(ApiKey).where(ApiKey.digest == digest(secret), ApiKey.revoked_at.is_(None)))


def any_active_key(session: Session) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None
