"""`pricecast demo`: the sample files go through the same ingest as an upload; a second run retrains nothing."""

from __future__ import annotations

import shutil

from tests.conftest import data_file


def test_demo_loads_trains_forecasts_and_then_only_what_changed(pricecast, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    shutil.copy(data_file("IBM.csv"), folder / "ibm.csv")
    r = pricecast("demo", "--data", str(folder))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "loaded IBM: 500 rows" in r.stdout and "IBM: succeeded" in r.stdout and "skill" in r.stdout
    again = pricecast("demo", "--data", str(folder))
    assert again.exit_code == 0 and "already covers the latest data" in again.stdout
