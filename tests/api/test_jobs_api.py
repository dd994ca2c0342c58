"""Jobs and models endpoints through create_app(settings) (queue on, consumer off), SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.training.jobs import PRIORITY_BULK, PRIORITY_SINGLE
from service.training.runner import run_training
from tests.api.conftest import trained_ibm
from tests.api.test_series_api import assert_error
from tests.conftest import data_file

TINY = {"window": 8, "hidden_size": 4, "epochs": 2, "patience": 2, "batch_size": 64}


@pytest.fixture
def api(settings) -> Iterator[TestClient]:
    s = settings.model_copy(update={"embedded_worker": False})
    app = create_app(s)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.post("/series/IBM", content=data_file("IBM.csv").read_bytes(), headers={"content-type": "text/csv"})
        short = "\n".join(data_file("FB.csv").read_text().splitlines()[:81]) + "\n"  # 80 rows: under the 89 minimum
        c.post("/series/FB", content=short.encode(), headers={"content-type": "text/csv"})
        c.run = lambda job_id: run_training(s, app.state.sessionmaker, job_id=job_id, worker_id="test")  # type: ignore[attr-defined]
        yield c


def test_train_returns_202_location_and_deduplicates(api):
    r = api.post("/series/ibm/train", json=TINY)
    assert r.status_code == 202 and r.headers["location"] == f"/jobs/{r.json()['id']}"
    job = r.json()
    assert job["status"] == "queued" and job["ticker"] == "IBM" and job["params"]["window"] == 8
    again = api.post("/series/IBM/train")
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    assert api.app.state.queue.pending() == 1


def test_train_errors(api):
    assert_error(api.post("/series/NOPE/train"), 404, "not_found")
    err = assert_error(api.post("/series/FB/train"), 409, "series_too_short")
    assert err["details"]["available"] == 80 and err["details"]["needed"] == 89
    err = assert_error(api.post("/series/IBM/train", json={"window": 2}), 422, "invalid_input")
    assert err["details"]["fields"][0]["field"] == "window"
    assert_error(api.post("/series/IBM/train", json={"colour": "red"}), 422, "invalid_input")


def test_too_costly_training_is_a_422_before_anything_is_queued(settings):
    """Issue 13 row 5, through HTTP: a single request and a bulk one are refused whole, naming the limit."""
    s = settings.model_copy(update={"embedded_worker": False, "max_train_memory": 512 * 1024**2})
    huge = {"window": 512, "hidden_size": 512, "layers": 4, "batch_size": 8192}
    with TestClient(create_app(s), raise_server_exceptions=False) as api:
        api.post("/series/IBM", content=data_file("IBM.csv").read_bytes(), headers={"content-type": "text/csv"})
        err = assert_error(api.post("/series/IBM/train", json=huge), 422, "invalid_input")
        assert "PRICECAST_MAX_TRAIN_MEMORY=512 MiB" in err["message"]
        assert err["message"].startswith(err["details"]["field"] + "=512: training IBM")
        err = assert_error(api.post("/train", json={"tickers": ["NOPE", "IBM"], "params": huge}), 422, "invalid_input")
        assert "IBM" in err["message"] and err["details"]["limit_bytes"] == 512 * 1024**2
        assert api.get("/jobs").json()["jobs"] == [] and api.app.state.queue.pending() == 0
        assert api.post("/series/IBM/train", json=TINY).status_code == 202


def test_jobs_listing_cancel_and_models(api):
    job = api.post("/series/IBM/train", json=TINY).json()
    assert api.post(f"/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert_error(api.post(f"/jobs/{job['id']}/cancel"), 409, "conflict")
    assert_error(api.get("/jobs/999"), 404, "not_found")

    job = api.post("/series/IBM/train", json=TINY).json()
    assert api.run(job["id"]) == "succeeded"
    done = api.get(f"/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["model_version"] == 1 and done["finished_at"].endswith("Z")
    assert [j["id"] for j in api.get("/jobs", params={"ticker": "IBM"}).json()["jobs"]] == [job["id"], job["id"] - 1]
    assert [j["status"] for j in api.get("/jobs", params={"status": "cancelled"}).json()["jobs"]] == ["cancelled"]
    assert_error(api.get("/jobs", params={"status": "weird"}), 422, "invalid_input")
    assert_error(api.get("/jobs", params={"limit": 10_000}), 422, "invalid_input")

    model = api.get("/series/IBM/models/1").json()
    assert model["status"] == "active" and model["price_field"] == "adj_close"
    assert set(model["comparison"]) >= {"model", "persistence", "drift", "always_up", "skill_rmse", "no_edge"}
    backtest = api.get("/series/IBM/models/1/backtest").json()
    assert len(backtest["points"]) == model["metrics"]["n_test"]
    assert {"date", "actual", "predicted", "persistence", "low_80", "high_95", "prob_up"} <= set(backtest["points"][0])
    assert api.post("/series/IBM/models/1/activate").json()["status"] == "active"
    assert_error(api.get("/series/IBM/models/7"), 404, "not_found")
    assert api.get("/series/IBM/models").json()["models"][0]["version"] == 1

    assert api.delete("/series/IBM").status_code == 204
    assert_error(api.get(f"/jobs/{job['id']}"), 404, "not_found")


def test_bulk_train(api):
    r = api.post("/train", json={"tickers": ["IBM", "FB", "NOPE"], "params": TINY})
    assert r.status_code == 202
    body = r.json()
    assert [j["ticker"] for j in body["jobs"]] == ["IBM"]
    assert [(e["ticker"], e["code"]) for e in body["errors"]] == [("FB", "series_too_short"), ("NOPE", "not_found")]
    for bad in ({"tickers": ["IBM"], "all": True}, {}, {"all": False}, {"all": 1}, {"stale": "true"}):
        err = assert_error(api.post("/train", json=bad), 422, "invalid_input")
        assert len(err["details"]["fields"]) == 1 and "TrainTickers" not in err["message"], err
    assert api.post("/train", json={"all": True}).json()["jobs"][0]["id"] == body["jobs"][0]["id"]
    assert api.post("/train", json={"stale": True}).json() == {"jobs": [], "errors": []}


def test_upload_past_retrain_after_queues_a_job(settings):
    with trained_ibm(settings, held_back=3, params=TINY, retrain_after=3) as (c, lines):
        r = c.post("/series/IBM", content="\n".join(lines[:1] + lines[-3:-1]) + "\n",
                   headers={"content-type": "text/csv"})
        assert not any("retraining" in w for w in r.json()["warnings"])  # 2 points behind
        r = c.post("/series/IBM", content="\n".join(lines[:1] + lines[-1:]) + "\n", headers={"content-type": "text/csv"})
        assert any("queued retraining job" in w for w in r.json()["warnings"])
        assert c.get("/jobs", params={"status": "queued"}).json()["jobs"][0]["ticker"] == "IBM"


def test_one_priority_rule_for_every_way_a_job_is_asked_for(api):
    single = api.post("/series/IBM/train", json=TINY).json()
    api.post(f"/jobs/{single['id']}/cancel")
    named = api.post("/train", json={"tickers": ["ibm"], "params": TINY}).json()["jobs"][0]
    api.post(f"/jobs/{named['id']}/cancel")
    bulk = api.post("/train", json={"tickers": ["IBM", "FB"], "params": TINY}).json()["jobs"][0]
    with api.app.state.sessionmaker() as s:
        from service.tables import TrainingJob

        priorities = {j.id: j.priority for j in s.query(TrainingJob)}
    assert priorities[single["id"]] == priorities[named["id"]] == PRIORITY_SINGLE
    assert priorities[bulk["id"]] == PRIORITY_BULK


def test_stale_train_request_uses_the_forecasts_meaning_of_stale(settings):
    with trained_ibm(settings, held_back=2, params=TINY, stale_after=2) as (c, lines):
        c.post("/series/IBM", content="\n".join(lines[:1] + lines[-2:-1]) + "\n", headers={"content-type": "text/csv"})
        assert c.post("/forecast", json={"ticker": "IBM"}).json()["stale"] is False
        assert c.post("/train", json={"stale": True}).json()["jobs"] == []
        c.post("/series/IBM", content="\n".join(lines[:1] + lines[-1:]) + "\n", headers={"content-type": "text/csv"})
        assert c.post("/forecast", json={"ticker": "IBM"}).json()["stale"] is True
        assert [j["ticker"] for j in c.post("/train", json={"stale": True}).json()["jobs"]] == ["IBM"]


def test_a_job_the_queue_refuses_is_failed_with_the_reason(settings):
    # A Redis queue nobody listens on: the real client, really refused.
    s = settings.model_copy(update={"embedded_worker": False, "queue_url": "redis://127.0.0.1:1/0", "retrain_after": 1})
    app = create_app(s)
    lines = data_file("IBM.csv").read_text().splitlines()
    with TestClient(app, raise_server_exceptions=False) as c:
        c.post("/series/IBM", content="\n".join(lines[:-1]) + "\n", headers={"content-type": "text/csv"})
        err = assert_error(c.post("/series/IBM/train", json=TINY), 503, "unavailable")
        assert "job queue" in err["message"]
        job = c.get("/jobs").json()["jobs"][0]
        assert job["status"] == "failed" and job["error"].startswith("could not reach the job queue")
        bulk = assert_error(c.post("/train", json={"all": True, "params": TINY}), 503, "unavailable")
        assert "job queue" in bulk["message"]
        assert [j["status"] for j in c.get("/jobs").json()["jobs"]] == ["failed", "failed"]
        # an upload that triggers a retrain keeps its prices; the retrain fails with the reason
        with app.state.sessionmaker() as session:
            from service.tables import JobStatus, TrainingJob

            session.query(TrainingJob).filter(TrainingJob.id == job["id"]).update({"status": JobStatus.QUEUED})
            session.commit()
        assert run_training(s, app.state.sessionmaker, job_id=job["id"], worker_id="test") == "succeeded"
        r = c.post("/series/IBM", content="\n".join(lines[:1] + lines[-1:]) + "\n", headers={"content-type": "text/csv"})
        assert r.status_code == 200 and r.json()["rows_inserted"] == 1
        assert any("retraining job failed: could not reach the job queue" in w for w in r.json()["warnings"])


def test_the_openapi_document_states_what_the_server_enforces(settings):
    """Issue 13 row 22: schema-valid requests were refused (batch_size 8.0, limit over the page max,
    start=0000-00-00, close 0, prices with tickers); each constraint is now in the document."""
    import re

    s = settings.model_copy(update={"embedded_worker": False, "jobs_page_max": 77, "max_bulk_tickers": 5})
    with TestClient(create_app(s), raise_server_exceptions=False) as api:
        doc = api.get("/openapi.json").json()
        limit = next(p for p in doc["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == 77
        assert assert_error(api.get("/jobs", params={"limit": 78}), 422, "invalid_input")
        bulk = doc["components"]["schemas"]["BulkTrainRequest"]["properties"]["tickers"]
        assert bulk["maxItems"] == 5
        window = doc["components"]["schemas"]["TrainRequest"]["properties"]["window"]["anyOf"][0]
        assert (window["type"], window["minimum"], window["maximum"]) == ("integer", 8, 512)
        start = next(p for p in doc["paths"]["/series/{ticker}"]["get"]["parameters"] if p["name"] == "start")
        pattern = re.compile(start["schema"]["anyOf"][0]["pattern"])
        assert not pattern.match("0000-00-00") and not pattern.match("2023-02-29") and pattern.match("2024-02-29")
        point = doc["components"]["schemas"]["ForecastRequest"]["properties"]["prices"]["items"]
        assert point["required"] == ["date", "close"] and point["properties"]["close"]["exclusiveMinimum"] == 0
        assert point["properties"]["volume"]["anyOf"][0]["maximum"] == 2**63 - 1  # exactly, not a float

        api.post("/series/IBM", content=data_file("IBM.csv").read_bytes(), headers={"content-type": "text/csv"})
        # an integer written 8.0 is an integer (JSON Schema's `integer`); 8.5 and true are not
        assert api.post("/series/IBM/train", json={**TINY, "batch_size": 64.0}).status_code == 202
        assert_error(api.post("/train", json={"tickers": ["IBM"], "params": {"batch_size": 64.5}}), 422, "invalid_input")
        assert_error(api.post("/train", json={"tickers": ["IBM"], "params": {"layers": True}}), 422, "invalid_input")
        # a calendar that conflicts with the stored series' is a conflict with its state: 409
        r = api.post("/series/IBM?calendar=XLON", content=b"date,close\n2024-01-02,1\n",
                     headers={"content-type": "text/csv"})
        assert_error(r, 409, "conflict")
        # a multipart upload may carry the CSV as a plain field named file (as the document shows it)
        r = api.post("/series/NEW", files={"file": (None, "date,close\n2024-01-02,101.5\n")})
        assert r.status_code == 200, r.text
