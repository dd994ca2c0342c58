"""API keys: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.keys import create_key, list_keys, revoke_key
from service.usecases.runtime import Runtime


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    read_only: bool
    created_at: datetime
    revoked_at: datetime | None


def _info(row) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, row.read_only, row.created_at, row.revoked_at)


def new_key(rt: Runtime, *, name: str, read_only: bool = False) -> tuple[KeyInfo, str]:
    """Create a key; return it and its secret (only the digest is stored)."""
    with rt.unit_of_work() as session:
        row, secret = create_key(session, name=name, read_only=read_only)
        return _info(row), secret


def read_keys(rt: Runtime) -> list[KeyInfo]:
    """Every key, oldest first (revoked ones too), never their secrets."""
    with rt.reading() as session:
        return [_info(r) for r in list_keys(session)]


def revoke(rt: Runtime, *, key_id: int) -> KeyInfo:
    """Revoke a key."""
    with rt.unit_of_work() as session:
        return _info(revoke_key(session, key_id=key_id))
