"""`pricecast keys`: the secret is printed once, lists never show it, revoke is final."""

from __future__ import annotations

import json


def test_create_list_revoke(pricecast):
    r = pricecast("keys", "create", "--name", "ci", "--json")
    assert r.exit_code == 0, r.stderr
    created = json.loads(r.stdout)
    listed = pricecast("keys", "list", "--json")
    assert created["key"] not in listed.stdout and json.loads(listed.stdout)["keys"][0]["name"] == "ci"
    assert pricecast("keys", "revoke", str(created["id"])).exit_code == 0
    again = pricecast("keys", "revoke", str(created["id"]))
    assert again.exit_code == 1 and "already revoked" in again.stderr
