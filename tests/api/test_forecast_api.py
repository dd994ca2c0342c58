"""POST /forecast and live accuracy through create_app(settings), on SQLite and Postgres."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.training.runner import run_training
from tests.api.conftest import trained_ibm
from tests.api.test_series_api import assert_error
from tests.conftest import data_file
from tests.factories import corrupt_checkpoint

TINY = {"window": 8, "hidden_size": 4, "epochs": 2, "patience": 2, "batch_size": 64}
FIELDS = {"ticker", "as_of", "target", "target_date", "calendar", "frequency", "price_field", "last_price", "predicted_price", "predicted_return",
          "trend", "prob_up", "intervals", "no_edge", "stale", "model"}


@pytest.fixture
def api(settings) -> Iterator[TestClient]:
    s = settings.model_copy(update={"embedded_worker": False, "promotion_policy": "always"})
    app = create_app(s)
    lines = data_file("IBM.csv").read_text().splitlines()
    with TestClient(app, raise_server_exceptions=False) as c:
        c.post("/series/IBM", content="\n".join(lines[:-1]) + "\n", headers={"content-type": "text/csv"})
        c.post("/series/FB", content=data_file("FB.csv").read_bytes(), headers={"content-type": "text/csv"})

        def train(symbol: str = "IBM", **params) -> None:
            job = c.post(f"/series/{symbol}/train", json={**TINY, **params}).json()
            assert run_training(s, app.state.sessionmaker, job_id=job["id"], worker_id="t") == "succeeded"

        c.train, c.last_line, c.settings = train, lines[-1], s  # type: ignore[attr-defined]
        yield c


def test_single_forecast_has_every_field(api):
    api.train()
    r = api.post("/forecast", json={"ticker": "ibm"})
    assert r.status_code == 200, r.text
    f = r.json()
    assert set(f) == FIELDS
    assert f["ticker"] == "IBM" and f["as_of"] == "2013-02-28" and f["target_date"] == "2013-03-01"
    assert f["price_field"] == "adj_close" and f["trend"] in ("up", "down") and 0 < f["prob_up"] < 1
    # the sign of the forecast; when it is persistence (no change), the base rate's direction
    base = "up" if f["model"]["metrics"]["base_rate_direction"] == "up" else "down"
    moved = f["predicted_price"] != f["last_price"]
    assert f["trend"] == (("up" if f["predicted_price"] > f["last_price"] else "down") if moved else base)
    assert [i["level"] for i in f["intervals"]] == [80, 95]
    (lo80, hi80), (lo95, hi95) = [(i["low"], i["high"]) for i in f["intervals"]]
    assert lo95 < lo80 <= f["predicted_price"] <= hi80 < hi95
    m = f["model"]
    assert m["version"] == 1 and m["trained_at"].endswith("Z") and m["data_end"] == "2013-02-28"
    assert set(m["metrics"]) == {"n_test", "point_forecast", "rmse", "persistence_rmse", "skill_rmse",
                                 "directional_accuracy", "base_rate", "base_rate_direction",
                                 "always_up_directional_accuracy", "brier", "base_rate_brier", "coverage_80",
                                 "coverage_95", "width_80", "width_95", "ewma_coverage_80", "ewma_coverage_95",
                                 "ewma_width_80", "ewma_width_95"}
    assert isinstance(f["no_edge"], bool) and f["stale"] is False


def test_target_skips_the_weekend_and_the_holiday(api):
    api.train()
    friday = api.post("/forecast", json={"ticker": "IBM", "prices": [
        {"date": f"2013-02-{d:02d}", "close": 200 + d} for d in range(1, 16) if date(2013, 2, d).weekday() < 5]})
    # Monday 2013-02-18 was Presidents' Day: XNYS was closed, so the next session is Tuesday.
    f = friday.json()
    assert f["as_of"] == "2013-02-15" and f["target_date"] == f["target"] == "2013-02-19"
    assert f["calendar"] == "XNYS" and f["frequency"] == "1d"


def test_errors_for_single_requests(api):
    assert_error(api.post("/forecast", json={"ticker": "NOPE"}), 404, "not_found")
    err = assert_error(api.post("/forecast", json={"ticker": "IBM"}), 409, "conflict")
    assert "POST /series/IBM/train" in err["message"]
    api.train()
    assert_error(api.post("/forecast", json={}), 422, "invalid_input")
    assert_error(api.post("/forecast", json={"ticker": "IBM", "tickers": ["IBM"]}), 422, "invalid_input")
    assert_error(api.post("/forecast", json={"ticker": "IBM", "levels": [100]}), 422, "invalid_input")
    assert_error(api.post("/forecast", json={"ticker": "IBM", "model_version": 9}), 404, "not_found")
    err = assert_error(api.post("/forecast", json={"ticker": "IBM", "prices": [{"date": "2024-01-02", "close": 1}]}),
                       422, "insufficient_data")
    assert err["details"] == {"field": "prices", "needed": 9, "available": 1}


def test_a_stored_series_shorter_than_its_model_needs_is_a_409(api):
    """The series' state, not the request: schema-valid requests are never 422 for it (issue 13 row 22)."""
    api.train()
    r = api.post("/series/IBM?mode=replace", content=b"date,close\n2024-01-02,1\n2024-01-03,2\n",
                 headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    err = assert_error(api.post("/forecast", json={"ticker": "IBM"}), 409, "series_too_short")
    assert err["details"] == {"ticker": "IBM", "needed": 9, "available": 2}
    batch = api.post("/forecast", json={"tickers": ["IBM"]}).json()
    assert [(e["ticker"], e["code"]) for e in batch["errors"]] == [("IBM", "series_too_short")]


@pytest.mark.parametrize("body, field, words", [
    ({"ticker": "SPX", "levels": [100]}, "levels", "from 1 to 99"),
    ({"ticker": "SPX", "levels": [True]}, "levels", "True is not allowed"),
    ({"ticker": "SPX", "levels": [80.5]}, "levels", "80.5 is not allowed"),  # 80.0 is the JSON integer 80
    ({"ticker": "SPX", "levels": list(range(1, 12))}, "levels", "11 levels given"),
    ({"ticker": "a b"}, "ticker", "letters, digits and"),
    ({"ticker": "SPX", "model_version": True}, "model_version", "integer"),
    ({}, None, 'exactly one of "ticker"'),
    ({"ticker": "SPX", "tickers": ["SPX"]}, None, 'exactly one of "ticker"'),
    ({"tickers": ["SPX"], "prices": []}, None, '"prices" goes with one "ticker"'),
])
def test_one_error_per_mistake_in_words(api, body, field, words):
    err = assert_error(api.post("/forecast", json=body), 422, "invalid_input")
    assert len(err["details"]["fields"]) == 1, err
    assert err["details"]["fields"][0]["field"] == field and words in err["message"], err
    assert "ForecastMany" not in err["message"] and "[A-Za-z" not in err["message"]


def test_the_answer_is_exactly_the_declared_schema(api):
    api.train()
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    one = api.post("/forecast", json={"ticker": "IBM"}).json()
    assert set(one) == set(schema["ForecastRead"]["properties"]) == FIELDS
    assert set(one["model"]) == set(schema["ForecastModelRead"]["properties"])
    batch = api.post("/forecast", json={"tickers": ["IBM", "NOPE"]}).json()  # the cached answer, inside a batch
    assert set(batch) == set(schema["BatchForecastRead"]["properties"]) and batch["forecasts"] == [one]
    assert api.post("/forecast", json={"tickers": ["IBM"]}).json() == {"forecasts": [one], "errors": []}


def test_batch_with_unknown_and_untrained_tickers(api):
    api.train()
    r = api.post("/forecast", json={"tickers": ["IBM", "NOPE", "FB", "a b"], "levels": [95, 50, 80]})
    body = r.json()
    assert r.status_code == 200 and [f["ticker"] for f in body["forecasts"]] == ["IBM"]
    assert [i["level"] for i in body["forecasts"][0]["intervals"]] == [50, 80, 95]
    assert sorted((e["ticker"], e["code"]) for e in body["errors"]) == [
        ("FB", "conflict"), ("NOPE", "not_found"), ("a b", "invalid_input")]


def test_model_version_and_cache_follow_activation(api):
    api.train()
    api.train(seed=3)
    latest = api.post("/forecast", json={"ticker": "IBM"}).json()
    assert latest["model"]["version"] == 2
    first = api.post("/forecast", json={"ticker": "IBM", "model_version": 1}).json()
    assert first["model"]["version"] == 1 and first["model"]["trained_at"] != latest["model"]["trained_at"]
    api.post("/series/IBM/models/1/activate")
    again = api.post("/forecast", json={"ticker": "IBM"}).json()
    assert again["model"] == first["model"]


def test_inline_prices_are_used_and_not_stored(api):
    api.train()
    rows = list(csv.DictReader(data_file("IBM.csv").read_text().splitlines()))[-20:]
    points = [{"date": r["date"], "close": float(r["close"]) * 2} for r in rows]
    f = api.post("/forecast", json={"ticker": "IBM", "prices": points}).json()
    assert f["as_of"] == rows[-1]["date"] and f["last_price"] == points[-1]["close"] and f["price_field"] == "close"
    assert api.get("/series/IBM/accuracy").json()["served"] == 0
    assert api.get("/series/IBM", params={"limit": 1}).json()["points"][0]["date"] == "2013-02-28"


def test_live_accuracy_resolves_after_the_next_price_arrives(api):
    api.train()
    served = api.post("/forecast", json={"ticker": "IBM"}).json()
    for _ in range(3):
        api.post("/forecast", json={"ticker": "IBM"})  # identical requests record one forecast
    before = api.get("/series/IBM/accuracy").json()
    assert (before["served"], before["pending"], before["overall"]) == (1, 1, {"resolved": 0})
    header = "date,open,high,low,close,adj_close,volume"
    api.post("/series/IBM", content=f"{header}\n{api.last_line}\n", headers={"content-type": "text/csv"})
    report = api.get("/series/IBM/accuracy").json()
    assert report["pending"] == 0 and report["overall"]["resolved"] == 1
    actual = float(api.last_line.split(",")[5])
    assert report["overall"]["mae"] == pytest.approx(abs(served["predicted_price"] - actual))
    assert report["overall"]["persistence_mae"] == pytest.approx(abs(served["last_price"] - actual))
    assert set(report["overall"]["coverage"]) == {"80", "95"}
    assert report["versions"][0]["version"] == 1
    assert api.post("/forecast", json={"ticker": "IBM"}).json()["as_of"] == "2013-03-01"


def test_stale_after_setting(settings):
    with trained_ibm(settings, held_back=2, params=TINY, stale_after=2) as (c, lines):
        assert c.post("/forecast", json={"ticker": "IBM"}).json()["stale"] is False
        c.post("/series/IBM", content="\n".join(lines[:1] + lines[-2:]) + "\n", headers={"content-type": "text/csv"})
        assert c.post("/forecast", json={"ticker": "IBM"}).json()["stale"] is True


def test_corrupt_checkpoint_is_refused_and_marked_broken(api):
    api.train()
    from service.registry import get_model

    with api.app.state.sessionmaker() as session:
        corrupt_checkpoint(session, api.settings, get_model(session, symbol="IBM", version=1))
    err = assert_error(api.post("/forecast", json={"ticker": "IBM"}), 409, "conflict")
    assert "broken" in err["message"]
    assert api.get("/series/IBM/models/1").json()["status"] == "broken"
    again = assert_error(api.post("/forecast", json={"ticker": "IBM"}), 409, "conflict")
    assert "version 1 was marked broken" in again["message"] and again["details"]["broken"] == 1
    api.train(seed=9)  # a retrain repairs it
    assert api.post("/forecast", json={"ticker": "IBM"}).json()["model"]["version"] == 2


def test_active_models_are_loaded_at_start(settings):
    from service.forecasting.caches import Caches, warm_models

    s = settings.model_copy(update={"embedded_worker": False})
    app = create_app(s)
    with TestClient(app) as c:
        c.post("/series/IBM", content=data_file("IBM.csv").read_bytes(), headers={"content-type": "text/csv"})
        job = c.post("/series/IBM/train", json=TINY).json()
        run_training(s, app.state.sessionmaker, job_id=job["id"], worker_id="t")
    caches = Caches(s)
    try:
        assert warm_models(s, app.state.sessionmaker, caches) == 1
        assert warm_models(s, app.state.sessionmaker, caches) == 0  # already there
        assert (caches.models.hits, caches.models.misses) == (0, 0)
    finally:
        app.state.engine.dispose()
