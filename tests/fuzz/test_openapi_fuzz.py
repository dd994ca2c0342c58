"""Fuzz the whole API from its own OpenAPI document (schemathesis): no 5xx, responses as documented.

The app is built at import (schemathesis needs the schema to parametrize); its database is
migrated and seeded by a module fixture before any case runs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from service.api import check_schema, create_app
from service.settings import Settings
from service.training.runner import run_training
from tests.conftest import data_file

pytestmark = pytest.mark.slow

DATA_DIR = Path(tempfile.mkdtemp(prefix="pricecast-fuzz-"))
# A key, as the document's security schemes say: schemathesis also checks that a request without
# it (or with a wrong one) is refused on every operation that declares them.
KEY = "fuzz-key-0123456789-abcdefghijklmnopqrstuv"
AUTH = {"Authorization": f"Bearer {KEY}"}
SETTINGS = Settings(data_dir=DATA_DIR / "var", embedded_worker=False, rate_limit="off", train_rate_limit="off",
                    max_upload_bytes=2_000_000, bootstrap_key=KEY)
APP = create_app(SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Every case carries the real key (AUTH); schemathesis generating its own Authorization values as
# well would only test them against the key we then put in their place.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture(scope="module", autouse=True)
def seeded():
    """A ticker with a trained model, so the forecast and model routes go deep."""
    check_schema(SETTINGS)
    with TestClient(APP, headers=AUTH) as c:
        c.post("/series/IBM", content=data_file("IBM.csv").read_bytes(), headers={"content-type": "text/csv"})
        job = c.post("/series/IBM/train", json={"window": 8, "hidden_size": 4, "epochs": 2}).json()
        run_training(SETTINGS, APP.state.sessionmaker, job_id=job["id"], worker_id="fuzz")
    yield
    APP.state.engine.dispose()
    shutil.rmtree(DATA_DIR, ignore_errors=True)


def _repeated_key(rows: list) -> bool:
    return len(rows) != len(set(rows))


def filter_body(ctx, body) -> bool:
    """Leave out bodies that give one date (of one ticker) twice: the one rule of the server that
    JSON Schema cannot state (items unique by a key). Such a body is refused with 422 naming the
    rows, and tests/service/test_uploads.py checks that."""
    if isinstance(body, dict) and isinstance(body.get("file"), str):  # multipart: the CSV field
        body = body["file"]
    if isinstance(body, str):
        lines = [line.rstrip("\r").rsplit(",", 1)[0] for line in body.split("\n")[1:] if line.strip()]
        return not _repeated_key(lines)
    if isinstance(body, dict):
        for name in ("points", "prices"):
            points = body.get(name)
            if isinstance(points, list):
                return not _repeated_key([p.get("date") for p in points if isinstance(p, dict)])
    return True


@schema.hooks.apply(filter_body)
@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema(case):
    # Every check, positive data acceptance included: what the server refuses with 422 is in the
    # document (bounds, integers, exact dates, CSV and JSON bodies, settings' limits); refusals that
    # depend on stored state are 404/409 (a series too short to train, another calendar).
    case.call_and_validate(headers=AUTH)
