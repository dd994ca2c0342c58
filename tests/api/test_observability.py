"""/metrics in Prometheus format and one structured log line per request."""

from __future__ import annotations

import io
import json
import logging

from fastapi.testclient import TestClient

from service.api import create_app
from service.logs import JsonFormatter, configure_logging
from tests.conftest import data_file


def test_metrics_count_requests_uploads_jobs_and_caches(settings):
    with TestClient(create_app(settings.model_copy(update={"embedded_worker": False}))) as c:
        c.post("/series/IBM", content=data_file("IBM.csv").read_bytes(), headers={"content-type": "text/csv"})
        c.post("/series/IBM/train")
        c.get("/series/NOPE")
        text = c.get("/metrics").text
    assert 'pricecast_http_requests_total{method="POST",route="/series/{ticker}",status="200"} 1.0' in text
    assert 'pricecast_http_requests_total{method="GET",route="/series/{ticker}",status="404"} 1.0' in text
    assert 'pricecast_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/series/{ticker}"}' in text
    assert 'pricecast_upload_rows_total{outcome="inserted"} 500.0' in text
    assert 'pricecast_jobs{status="queued"} 1.0' in text
    assert "pricecast_queue_depth 1.0" in text
    assert "pricecast_database_up 1.0" in text
    assert 'pricecast_model_cache_lookups{outcome="miss"}' in text
    assert "pricecast_active_model_age_seconds" in text


def test_request_log_lines_are_json_with_request_id_and_no_key(settings):
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "json"}), stream=stream)
    secret = "s" * 40
    from pydantic import SecretStr

    app = create_app(settings.model_copy(update={"embedded_worker": False, "bootstrap_key": SecretStr(secret)}))
    try:
        with TestClient(app) as c:
            r = c.get("/series", headers={"authorization": f"Bearer {secret}", "x-request-id": "req-42"})
            c.get("/series", headers={"authorization": "Bearer wrong-key-value"})
    finally:
        logging.getLogger().handlers[:] = []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [x for x in lines if x["logger"] == "pricecast.access"]
    assert r.status_code == 200
    assert access[0] | {"ts": None, "duration_ms": None} == {
        "ts": None, "level": "info", "logger": "pricecast.access", "msg": access[0]["msg"], "request_id": "req-42",
        "method": "GET", "route": "/series", "path": "/series", "status": 200, "duration_ms": None,
        "client": "testclient", "principal": "key:bootstrap"}
    assert access[1]["status"] == 401
    assert secret not in stream.getvalue() and "wrong-key-value" not in stream.getvalue()


def test_json_formatter_carries_job_fields():
    record = logging.LogRecord("pricecast.jobs", logging.INFO, __file__, 1, "job %s started", (7,), None)
    record.job_id, record.ticker, record.event = 7, "SPX", "job_started"
    out = json.loads(JsonFormatter().format(record))
    assert (out["msg"], out["job_id"], out["ticker"], out["event"]) == ("job 7 started", 7, "SPX", "job_started")
