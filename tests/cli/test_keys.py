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


def test_the_first_key_says_authentication_is_now_required_and_how_to_send_it(pricecast, tmp_path):
    first = pricecast("keys", "create", "--name", "admin", "--json")
    assert first.exit_code == 0
    assert json.loads(first.stdout)["authentication_now_required"] is True  # stdout stays JSON
    note = first.stderr
    assert "Authentication is now required" in note and str(tmp_path / "var" / "pricecast.db") in note
    assert "Authorization: Bearer" in note and "PRICECAST_API_KEY" in note and "--url" in note
    assert json.loads(first.stdout)["key"] not in note  # the secret is printed once, on stdout
    second = pricecast("keys", "create", "--name", "dashboards", "--read-only")
    assert second.exit_code == 0 and "Authentication is now required" not in second.stdout + second.stderr


def test_no_such_note_when_a_bootstrap_key_already_required_one(pricecast):
    r = pricecast("keys", "create", "--name", "admin", bootstrap_key="b" * 40)
    assert r.exit_code == 0 and "Authentication is now required" not in r.stdout + r.stderr
