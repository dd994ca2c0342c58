"""Request bodies and methods at the edge of the app: 405 with Allow, 413/422 on chunked and deep JSON."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from tests.api.test_series_api import assert_error

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
JSON = {"content-type": "application/json"}


def _client(settings, **overrides) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"embedded_worker": False, **overrides})),
                      raise_server_exceptions=False)


def test_every_405_carries_the_methods_the_path_accepts(settings):
    """Allow lists every method the OpenAPI document gives the path (GET implies HEAD)."""
    with _client(settings) as c:
        paths = c.get("/openapi.json").json()["paths"]
        checked = 0
        for template, operations in paths.items():
            path = re.sub(r"\{[^}]+\}", lambda m: "1" if m[0] in ("{job_id}", "{version}") else "X", template)
            allowed = {m.upper() for m in operations}
            for method in METHODS:
                if method in allowed:
                    continue
                r = c.request(method, path)
                assert r.status_code == 405, (method, path, r.status_code)
                assert set(r.headers["allow"].split(", ")) - {"HEAD"} == allowed, (method, path, r.headers["allow"])
                assert r.json()["error"]["code"] == "method_not_allowed"
                checked += 1
        assert checked >= 20


@pytest.mark.parametrize("path", ["/forecast", "/train", "/series/X/train", "/series/X"])
def test_chunked_json_over_the_limit_is_413(settings, path):
    def chunks():
        for _ in range(64):
            yield b" " * 1024

    with _client(settings, max_upload_bytes=16 * 1024) as c:
        r = c.post(path, content=chunks(), headers=JSON)  # no Content-Length: the limit bites while streaming
        assert "content-length" not in r.request.headers
        err = assert_error(r, 413, "payload_too_large")
        assert "PRICECAST_MAX_UPLOAD_BYTES=16384" in err["message"]


@pytest.mark.parametrize("path", ["/forecast", "/train", "/series/X/train", "/series/X"])
def test_json_nested_deeper_than_the_limit_is_a_clear_422(settings, path):
    deep = b'{"a": ' * 40 + b"1" + b"}" * 40
    with _client(settings, max_json_depth=32) as c:
        err = assert_error(c.post(path, content=deep, headers=JSON), 422, "invalid_input")
        assert "deeper than 32" in err["message"] and err["details"]["field"] == "body"
        # Brackets inside strings are text, not nesting: this one is judged on its merits.
        shallow = b'{"ticker": "' + b"[{" * 1000 + b'\\"]"}'
        r = c.post(path, content=shallow, headers=JSON)
        assert r.status_code != 422 or "deeper" not in r.json()["error"]["message"]


def test_json_depth_is_measured_in_linear_time():
    import time

    from service.api.middleware import json_too_deep

    assert not json_too_deep(b'{"points": [{"date": "2024-01-02", "close": 1}]}', 3)
    assert json_too_deep(b'{"points": [{"date": "2024-01-02", "close": 1}]}', 2)
    assert not json_too_deep(b'["\\"[[[[", "]]"]', 1)
    wide = b"[" + b"[1]," * 2_000_000 + b"[1]]"  # 8 MB, depth 2
    start = time.perf_counter()
    assert not json_too_deep(wide, 2)
    assert json_too_deep(wide, 1)
    assert time.perf_counter() - start < 5  # generous: a shared 2-core machine


def test_sqlite_writes_wait_their_turn_instead_of_failing(tmp_path):
    """Bulk training (read, then write in a savepoint) while another connection keeps committing: no 503."""
    import threading
    from datetime import date, timedelta

    from sqlalchemy import text

    from service import migrate
    from service.db import make_engine, make_sessionmaker
    from service.settings import Settings

    settings = Settings(data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        embedded_worker=False, rate_limit="off", train_rate_limit="off")
    migrate.upgrade(settings)
    days = [date(2022, 1, 3) + timedelta(days=i) for i in range(600)]
    csv = "date,close\n" + "".join(f"{d},{100 + i % 7}\n" for i, d in enumerate(x for x in days if x.weekday() < 5))
    engine = make_engine(settings.db_url)
    stop = threading.Event()

    def committer() -> None:  # what the embedded worker does: short write transactions, all the time
        while not stop.is_set():
            with make_sessionmaker(engine)() as s:
                s.execute(text("UPDATE ticker SET updated_at = updated_at"))
                s.commit()

    with _client(settings) as c:
        for name in ("AAA", "BBB", "CCC"):
            assert c.post(f"/series/{name}", content=csv, headers={"content-type": "text/csv"}).status_code == 200
        thread = threading.Thread(target=committer)
        thread.start()
        try:
            statuses = [c.post("/train", json={"all": True, "params": {}}).status_code for _ in range(30)]
            statuses += [c.post(f"/series/{n}/train", json={}).status_code for n in ("AAA", "BBB", "CCC") * 5]
        finally:
            stop.set()
            thread.join()
            engine.dispose()
    assert set(statuses) <= {200, 202}, statuses
