"""`pricecast worker`: refuses a database behind head before it takes a job."""

from __future__ import annotations

from service import migrate
from service.settings import Settings


def test_worker_refuses_a_database_behind_head(pricecast, tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    migrate.upgrade(Settings(database_url=url), "base")
    r = pricecast("worker", database_url=url)
    assert r.exit_code == 1 and "pricecast migrate" in r.stderr and "Traceback" not in r.stderr


def test_train_refuses_too_costly_parameters_before_training(pricecast):
    """Issue 13 row 5 from the command line: the same check, the same message, nothing queued."""
    from tests.conftest import data_file

    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    r = pricecast("train", "IBM", "--window", "512", "--hidden-size", "512", "--layers", "4", "--batch-size", "8192",
                  max_train_memory=str(512 * 1024**2))
    assert r.exit_code != 0 and "PRICECAST_MAX_TRAIN_MEMORY=512 MiB" in r.stderr and "Traceback" not in r.stderr
