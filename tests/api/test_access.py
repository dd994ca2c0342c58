"""API keys and rate limits through create_app(settings), on SQLite and Postgres."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service import keys
from service.api import OpenService, check_access, create_app
from service.api.auth import Authenticator
from service.db import make_engine, make_sessionmaker
from tests.api.test_series_api import assert_error

CSV = {"content-type": "text/csv"}
BODY = "date,close\n2024-01-02,10\n"


def make_key(settings, *, read_only=False) -> tuple[int, str]:
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine)() as s:
        row, secret = keys.create_key(s, name="test", read_only=read_only)
        s.commit()
        key_id = row.id
    engine.dispose()
    return key_id, secret


def revoke(settings, key_id: int) -> None:
    engine = make_engine(settings.db_url)
    with make_sessionmaker(engine)() as s:
        keys.revoke_key(s, key_id=key_id)
        s.commit()
    engine.dispose()


def client(settings, **overrides) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"embedded_worker": False, **overrides})))


def test_open_when_no_key_is_configured(settings):
    with client(settings) as c:
        assert c.post("/series/X", content=BODY, headers=CSV).status_code == 200
        assert c.get("/series").status_code == 200


def test_keys_required_once_one_exists(settings):
    key_id, rw = make_key(settings)
    _, ro = make_key(settings, read_only=True)
    with client(settings, auth_cache_seconds=0) as c:
        err = assert_error(c.get("/series"), 401, "unauthorized")
        assert "Authorization: Bearer" in err["message"]
        assert_error(c.get("/series", headers={"authorization": "Bearer nope"}), 401, "unauthorized")
        assert c.post("/series/X", content=BODY, headers={**CSV, "authorization": f"Bearer {rw}"}).status_code == 200
        assert c.get("/series", headers={"x-api-key": ro}).status_code == 200
        assert c.post("/forecast", json={"ticker": "X"}, headers={"x-api-key": ro}).status_code == 409  # a read
        assert_error(c.post("/series/X", content=BODY, headers={**CSV, "x-api-key": ro}), 403, "forbidden")
        assert_error(c.delete("/series/X", headers={"x-api-key": ro}), 403, "forbidden")
        assert_error(c.post("/series/X/train", headers={"x-api-key": ro}), 403, "forbidden")
        assert c.get("/healthz").status_code == 200 and c.get("/openapi.json").status_code == 200
        revoke(settings, key_id)
        assert_error(c.get("/series", headers={"x-api-key": rw}), 401, "unauthorized")


def test_public_reads_and_bootstrap_key(settings):
    boot = "b" * 40
    from pydantic import SecretStr

    with client(settings, bootstrap_key=SecretStr(boot), public_reads=True) as c:
        assert c.get("/series").status_code == 200
        assert_error(c.post("/series/X", content=BODY, headers=CSV), 401, "unauthorized")
        assert c.post("/series/X", content=BODY, headers={**CSV, "authorization": f"Bearer {boot}"}).status_code == 200


def test_rate_limits_answer_429_with_retry_after(settings):
    with client(settings, rate_limit="3/minute", train_rate_limit="1/hour") as c:
        for _ in range(3):
            assert c.get("/series").status_code == 200
        r = c.get("/series")
        assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60
    with client(settings, train_rate_limit="1/hour") as c:
        c.post("/series/X", content=BODY, headers=CSV)
        assert c.post("/series/X/train").status_code == 409  # too short, but it counted
        assert_error(c.post("/series/X/train"), 429, "rate_limited")


def test_open_service_refused_off_loopback(settings):
    engine = make_engine(settings.db_url)
    public = settings.model_copy(update={"host": "0.0.0.0"})
    try:
        auth = Authenticator(public, make_sessionmaker(engine))
        with pytest.raises(OpenService, match="pricecast keys create"):
            check_access(public, auth)
        assert "OPEN" in check_access(public.model_copy(update={"allow_open": True}), auth)
        assert "OPEN" in check_access(settings, auth)
        make_key(settings)
        fresh = Authenticator(public, make_sessionmaker(engine))
        assert check_access(public, fresh).startswith("API keys required")
    finally:
        engine.dispose()


@pytest.mark.parametrize("bad", ["0/second", "10/fortnight", "ten/minute"])
def test_bad_rate_setting_names_the_variable(bad):
    from service.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="PRICECAST_RATE_LIMIT"):
        load_settings(rate_limit=bad)


def test_the_key_is_checked_before_the_body_is_read(settings):
    """No key: 401 whatever the body (bad JSON, too large, too deep); nothing of it is parsed."""
    _, rw = make_key(settings)
    json_ = {"content-type": "application/json"}
    with client(settings, max_upload_bytes=4096) as c:
        for path in ("/forecast", "/train", "/series/X/train", "/series/X", "/jobs/1/cancel"):
            assert_error(c.post(path, content=b"{bad", headers=json_), 401, "unauthorized")
            assert_error(c.post(path, content=b"[" * 100_000, headers=json_), 401, "unauthorized")
        assert_error(c.post("/forecast", content=b"{bad", headers={**json_, "x-api-key": "pc_wrong"}), 401,
                     "unauthorized")
        assert_error(c.post("/forecast", content=b"{bad", headers={**json_, "x-api-key": rw}), 422, "invalid_input")
        assert_error(c.post("/forecast", content=b"[" * 100_000, headers={**json_, "x-api-key": rw}), 413,
                     "payload_too_large")


def test_revoking_the_last_key_does_not_open_a_server_on_a_public_address(settings):
    """Off loopback, 'no key configured' refuses keyless requests at request time, not only at start."""
    key_id, rw = make_key(settings)
    with client(settings, host="0.0.0.0", auth_cache_seconds=0) as c:
        assert c.post("/series/X", content=BODY, headers={**CSV, "x-api-key": rw}).status_code == 200
        revoke(settings, key_id)
        assert_error(c.post("/series/Y", content=BODY, headers=CSV), 401, "unauthorized")
        assert_error(c.delete("/series/X"), 401, "unauthorized")
        assert_error(c.get("/series"), 401, "unauthorized")
        assert_error(c.post("/series/Y", content=BODY, headers={**CSV, "x-api-key": rw}), 401, "unauthorized")
    with client(settings, host="0.0.0.0", allow_open=True, auth_cache_seconds=0) as c:  # the operator's explicit choice
        assert c.post("/series/Y", content=BODY, headers=CSV).status_code == 200
    with client(settings, auth_cache_seconds=0) as c:  # loopback: open, as documented
        assert c.post("/series/Z", content=BODY, headers=CSV).status_code == 200


def test_a_revoked_key_cannot_write_even_while_reads_may_use_the_cache(settings):
    key_id, rw = make_key(settings)
    _, other = make_key(settings)  # the service stays closed after the revocation
    with client(settings, auth_cache_seconds=60) as c:
        assert c.get("/series", headers={"x-api-key": rw}).status_code == 200
        assert c.post("/series/X", content=BODY, headers={**CSV, "x-api-key": rw}).status_code == 200
        revoke(settings, key_id)
        for _ in range(3):
            assert_error(c.post("/series/X", content=BODY, headers={**CSV, "x-api-key": rw}), 401, "unauthorized")
            assert_error(c.delete("/series/X", headers={"x-api-key": rw}), 401, "unauthorized")
        # A read may ride the cache up to PRICECAST_AUTH_CACHE_SECONDS; the write lookup refreshed it here.
        assert_error(c.get("/series", headers={"x-api-key": rw}), 401, "unauthorized")
        assert c.get("/series", headers={"x-api-key": other}).status_code == 200


def test_a_key_created_while_open_closes_anonymous_writes_at_once(settings):
    with client(settings, auth_cache_seconds=60) as c:
        assert c.post("/series/X", content=BODY, headers=CSV).status_code == 200
        assert c.get("/series").status_code == 200  # cached "open" for reads
        make_key(settings)
        assert_error(c.post("/series/X", content=BODY, headers=CSV), 401, "unauthorized")
