"""`pricecast forecast` and `pricecast train`: exit codes follow every item, JSON is the API's."""

from __future__ import annotations

import json

from service.schemas.forecasts import ForecastRead
from tests.cli.conftest import TINY_FLAGS
from tests.conftest import data_file


def test_train_then_forecast_with_a_failed_item_exits_1(pricecast):
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    assert pricecast("import", "FB", str(data_file("FB.csv"))).exit_code == 0
    r = pricecast("train", "IBM", *TINY_FLAGS, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["jobs"][0]["status"] == "succeeded"
    r = pricecast("train", "IBM", "NOPE", *TINY_FLAGS)
    assert r.exit_code == 1 and "NOPE" in r.stdout

    one = pricecast("forecast", "ibm", "--json")
    assert one.exit_code == 0, one.stderr
    assert set(json.loads(one.stdout)) == set(ForecastRead.model_fields)
    both = pricecast("forecast", "IBM", "NOPE", "FB", "--json")
    assert both.exit_code == 1
    out = json.loads(both.stdout)
    assert [f["ticker"] for f in out["forecasts"]] == ["IBM"]
    assert [(e["ticker"], e["code"]) for e in out["errors"]] == [("NOPE", "not_found"), ("FB", "conflict")]
    missing = pricecast("forecast", "NOPE")
    assert missing.exit_code == 1 and "pricecast import NOPE" in missing.stderr
    bad_level = pricecast("forecast", "IBM", "--level", "100")
    assert bad_level.exit_code == 1 and "from 1 to 99" in bad_level.stderr


def test_train_queue_sends_jobs_for_a_worker(pricecast):
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    r = pricecast("train", "IBM", "--queue", *TINY_FLAGS)
    assert r.exit_code == 0 and "job 1 queued" in r.stdout, r.stderr
    again = pricecast("train", "--all", "--queue")
    assert again.exit_code == 0 and "already queued" in again.stdout
