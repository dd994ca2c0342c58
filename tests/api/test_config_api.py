"""GET /config: the input rules come from their one home, and they are the rules the server applies."""

from __future__ import annotations

import re

from service.forecasting.levels import DEFAULT_LEVELS
from service.tickers import TICKER_PATTERN
from tests.api.test_series_api import assert_error


def test_config_states_the_rules_the_server_enforces(client):
    r = client.get("/config")
    assert r.status_code == 200, r.text
    config = r.json()
    assert config["ticker"]["pattern"] == TICKER_PATTERN and config["ticker"]["max_length"] == 32
    assert config["levels"] == {"min": 1, "max": 99, "max_count": 10, "default": list(DEFAULT_LEVELS),
                                "description": config["levels"]["description"]}
    assert config["training"]["window"]["min"] == 8 and config["training"]["window"]["integer"] is True
    assert config["training"]["seed"]["max"] == 2**31 - 1 and config["stale_after"] == 20
    assert config["job_statuses"] == ["queued", "running", "succeeded", "failed", "cancelled"]
    # What the pattern allows uploads; what it refuses is refused (the page relies on it)
    pattern = re.compile(config["ticker"]["pattern"])
    chars = re.compile(f"[^{config['ticker']['characters']}]")
    for ticker in ("BRK.B", "^GSPC", "a_1=x-y", "X" * 32, "a b", "-X", "X" * 33, "é"):
        allowed = pattern.fullmatch(ticker) is not None
        assert allowed == (chars.search(ticker) is None and len(ticker) <= 32 and ticker[0] not in ".-=_"), ticker
        r = client.post(f"/series/{ticker}", content=b"date,close\n2024-01-02,1\n", headers={"content-type": "text/csv"})
        if allowed:
            assert r.status_code == 200, (ticker, r.text)
        else:
            assert_error(r, 422, "invalid_input")
    limit = client.get("/config").json()["limits"]["max_batch_tickers"]
    err = assert_error(client.post("/forecast", json={"tickers": [f"T{i}" for i in range(limit + 1)]}),
                       422, "invalid_input")
    assert f"PRICECAST_MAX_BATCH_TICKERS={limit}" in err["message"]
