"""`pricecast worker`: refuses a database behind head before it takes a job."""

from __future__ import annotations

from service import migrate
from service.settings import Settings


def test_worker_refuses_a_database_behind_head(pricecast, tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    migrate.upgrade(Settings(database_url=url), "base")
    r = pricecast("worker", database_url=url)
    assert r.exit_code == 1 and "pricecast migrate" in r.stderr and "Traceback" not in r.stderr
