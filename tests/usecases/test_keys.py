"""Key use cases: the secret is shown once and never stored; revoked keys stay listed."""

from __future__ import annotations

import pytest

from service.errors import Conflict, InvalidInput
from service.keys import find_active_key
from service.usecases import keys


def test_create_list_revoke(rt):
    info, secret = keys.new_key(rt, name="ci", read_only=True)
    assert secret.startswith("pc_") and info.prefix == secret[:10] and info.read_only
    with rt.reading() as s:
        assert find_active_key(s, secret=secret).id == info.id
    assert [k.name for k in keys.read_keys(rt)] == ["ci"] and secret not in repr(keys.read_keys(rt))
    assert keys.revoke(rt, key_id=info.id).revoked_at is not None
    with rt.reading() as s:
        assert find_active_key(s, secret=secret) is None
    with pytest.raises(Conflict):
        keys.revoke(rt, key_id=info.id)
    with pytest.raises(InvalidInput):
        keys.new_key(rt, name="  ")
