"""API keys as domain functions: only digests are stored; revoked keys stop matching."""

from __future__ import annotations

import pytest

from service import keys
from service.errors import Conflict, InvalidInput, NotFound
from service.tables import ApiKey


def test_create_stores_only_the_digest(session):
    row, secret = keys.create_key(session, name=" ci ")
    session.commit()
    assert row.name == "ci" and secret.startswith(keys.KEY_PREFIX) and len(secret) > 40
    stored = session.get(ApiKey, row.id)
    assert stored.digest == keys.digest(secret) and secret not in (stored.digest, stored.prefix)
    assert keys.find_active_key(session, secret=secret).id == row.id
    assert keys.find_active_key(session, secret=secret + "x") is None and keys.any_active_key(session)


def test_revoke_once(session):
    row, secret = keys.create_key(session, name="ci")
    keys.revoke_key(session, key_id=row.id)
    session.commit()
    assert keys.find_active_key(session, secret=secret) is None and not keys.any_active_key(session)
    with pytest.raises(Conflict):
        keys.revoke_key(session, key_id=row.id)
    with pytest.raises(NotFound):
        keys.revoke_key(session, key_id=999)
    with pytest.raises(InvalidInput):
        keys.create_key(session, name="x" * 101)
    assert [k.id for k in keys.list_keys(session)] == [row.id]
