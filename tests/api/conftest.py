from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.training.runner import run_training
from tests.conftest import data_file

CSV = {"content-type": "text/csv"}


@contextmanager
def trained_ibm(settings, *, held_back: int, params: dict, **updates) -> Iterator[tuple[TestClient, list[str]]]:
    """A client of an app (no embedded worker, `updates` to its settings) whose IBM series lacks its last
    `held_back` lines and has a model trained on the rest; also IBM.csv's lines, to upload the rest."""
    s = settings.model_copy(update={"embedded_worker": False, **updates})
    app = create_app(s)
    lines = data_file("IBM.csv").read_text().splitlines()
    with TestClient(app) as c:
        c.post("/series/IBM", content="\n".join(lines[:-held_back]) + "\n", headers=CSV)
        job = c.post("/series/IBM/train", json=params).json()
        assert run_training(s, app.state.sessionmaker, job_id=job["id"], worker_id="test") == "succeeded"
        yield c, lines


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c
