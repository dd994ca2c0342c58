"""`pricecast worker` refuses a database behind head; `pricecast train` with many tickers trains them in groups."""

from __future__ import annotations

import json

from service import migrate
from service.settings import Settings
from tests.cli.conftest import TINY_FLAGS
from tests.conftest import data_file


def test_worker_refuses_a_database_behind_head(pricecast, tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    migrate.upgrade(Settings(database_url=url), "base")
    r = pricecast("worker", database_url=url)
    assert r.exit_code == 1 and "pricecast migrate" in r.stderr and "Traceback" not in r.stderr


def test_train_refuses_too_costly_parameters_before_training(pricecast):
    """Issue 13 row 5 from the command line: the same check, the same message, nothing queued."""
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    r = pricecast("train", "IBM", "--window", "512", "--hidden-size", "512", "--layers", "4", "--batch-size", "8192",
                  max_train_memory=str(512 * 1024**2))
    assert r.exit_code != 0 and "PRICECAST_MAX_TRAIN_MEMORY=512 MiB" in r.stderr and "Traceback" not in r.stderr


def test_train_all_trains_the_tickers_together_and_reports_each(pricecast):
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    assert pricecast("import", "FB", str(data_file("FB.csv"))).exit_code == 0
    r = pricecast("train", "--all", *TINY_FLAGS, "--json")
    assert r.exit_code == 0, r.stderr
    assert "training 2 tickers in groups of up to 8" in r.stderr
    jobs = json.loads(r.stdout)["jobs"]
    assert sorted((j["ticker"], j["status"], j["version"]) for j in jobs) == [("FB", "succeeded", 1),
                                                                             ("IBM", "succeeded", 1)]
