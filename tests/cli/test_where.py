"""One data location for server and CLI, shown by `pricecast info` and in every "not found" hint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from service.settings import PROJECT_ROOT
from tests.conftest import ROOT, data_file


def test_info_names_the_location_and_counts_what_is_there(pricecast, tmp_path):
    empty = pricecast("info", "--json")
    assert empty.exit_code == 0, empty.stderr
    out = json.loads(empty.stdout)
    assert out["data_dir"] == str(tmp_path / "var") and out["database"] == str(tmp_path / "var" / "pricecast.db")
    assert out["tickers"] is None and "does not exist yet" in out["problem"]
    assert not (tmp_path / "var" / "pricecast.db").exists(), "info creates nothing"

    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    assert pricecast("keys", "create", "--name", "ci").exit_code == 0
    out = json.loads(pricecast("info", "--json").stdout)
    assert (out["tickers"], out["models"], out["active_models"], out["api_keys"]) == (1, 0, 0, 1)
    assert out["schema_revision"] == out["head_revision"] and out["problem"] is None
    assert out["checkpoints"] in (str(tmp_path / "var" / "checkpoints"), "in the database (table model_checkpoint)")
    assert out["queue"] == f"sqlite:///{tmp_path / 'var' / 'queue.db'}"
    assert out["access"].startswith("API key required")
    text = pricecast("info").stdout
    assert str(tmp_path / "var" / "pricecast.db") in text and "tickers      1" in text


def test_info_masks_the_database_password(pricecast):
    r = pricecast("info", "--json", database_url="postgresql+psycopg://app:s3cret-pw@127.0.0.1:1/nothing",
                  queue_url="redis://:q-s3cret@127.0.0.1:1/0")
    assert r.exit_code == 0, r.stderr
    assert "s3cret" not in r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["database"] == "postgresql+psycopg://app:***@127.0.0.1:1/nothing"
    assert out["queue"] == "redis://:***@127.0.0.1:1/0"
    assert out["problem"].startswith("cannot read the database")


def test_not_found_says_which_database_it_looked_in(pricecast, tmp_path):
    db = tmp_path / "var" / "pricecast.db"
    r = pricecast("forecast", "SPX")
    assert r.exit_code == 1 and f"looked in {db}" in r.stderr
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    r = pricecast("forecast", "IBM", "NOPE")  # a batch: one entry per failed ticker, then where it looked
    assert r.exit_code == 1 and "NOPE" in r.stdout and f"looked in {db}" in r.stderr
    r = pricecast("series", "calendar", "NOPE", "XLON")
    assert r.exit_code == 1 and f"looked in {db}" in r.stderr


def _info_from(cwd: Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PRICECAST_")} | env
    r = subprocess.run([sys.executable, "-m", "service", "info", "--json"], cwd=cwd, env=environ,
                       capture_output=True, text=True, timeout=60, check=True)
    return json.loads(r.stdout)


def test_the_default_location_does_not_depend_on_the_working_directory(tmp_path):
    # The issue: `pricecast forecast SPX` run elsewhere made a new empty ./var/pricecast.db.
    here, elsewhere = _info_from(ROOT), _info_from(tmp_path)
    assert here["database"] == elsewhere["database"] == str(PROJECT_ROOT / "var" / "pricecast.db")
    assert not (tmp_path / "var").exists()
    # A relative PRICECAST_DATA_DIR is read once, against where the process starts, and shown whole.
    rel = _info_from(tmp_path, PRICECAST_DATA_DIR="data")
    assert rel["data_dir"] == str(tmp_path / "data") and rel["database"] == str(tmp_path / "data" / "pricecast.db")


def test_info_names_the_checkpoint_store():
    from service.settings import Settings
    from service.usecases.info import checkpoint_store

    in_db = Settings(data_dir=Path("/srv/pc"))  # the default
    assert checkpoint_store(in_db) == "in the database (table model_checkpoint)"
    files = in_db.model_copy(update={"checkpoint_store": "files"})
    assert checkpoint_store(files) == "/srv/pc/checkpoints"
