"""Intraday series through the API: upload with a calendar, read times in the exchange's zone, train, forecast the next bar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from service.training.runner import run_training

CSV = {"content-type": "text/csv"}
TINY = {"window": 8, "hidden_size": 4, "epochs": 2, "patience": 1, "batch_size": 64}


def five_minute_csv(days: list[date], seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["date,close"]
    price = 100.0
    for day in days:
        t = datetime(day.year, day.month, day.day, 9, 30)
        while t.hour < 16:
            price *= float(np.exp(rng.normal(0, 0.001 * (4 if (t.hour, t.minute) == (9, 30) else 1))))
            lines.append(f"{t:%Y-%m-%dT%H:%M:%S}-05:00,{price:.4f}")
            t += timedelta(minutes=5)
    return "\n".join(lines) + "\n"


def test_an_intraday_series_from_upload_to_the_next_bars_forecast(client, settings):
    days = [date(2024, 1, 2) + timedelta(days=k) for k in range(12)]
    days = [d for d in days if d.weekday() < 5 and d != date(2024, 1, 15)]
    r = client.post("/series/AAPL", params={"calendar": "XNAS"}, content=five_minute_csv(days), headers=CSV)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["frequency"], report["frequency_source"], report["calendar"], report["timezone"]) == \
        ("5m", "inferred", "XNAS", "America/New_York")
    assert report["first"] == "2024-01-02T09:30:00-05:00" and report["warnings"] == []
    series = client.get("/series/AAPL", params={"limit": 2}).json()
    assert series["frequency"] == "5m" and [p["time"] for p in series["points"]] == \
        ["2024-01-12T15:50:00-05:00", "2024-01-12T15:55:00-05:00"]
    text = client.get("/series/AAPL", params={"limit": 1}, headers={"accept": "text/csv"}).text
    assert text.splitlines()[1].startswith("2024-01-12T15:55:00-05:00,")
    job = client.post("/series/AAPL/train", json=TINY).json()
    assert run_training(settings, client.app.state.sessionmaker, job_id=job["id"], worker_id="t") == "succeeded"
    model = client.get("/series/AAPL/models").json()["models"][0]
    assert model["data_end"] == "2024-01-12T15:55:00-05:00"
    f = client.post("/forecast", json={"ticker": "AAPL"}).json()
    # Friday's last bar: the next one is Tuesday's open (the weekend, then Martin Luther King Jr. Day).
    assert f["as_of"] == "2024-01-12T15:55:00-05:00" and f["target"] == "2024-01-16T09:30:00-05:00"
    assert f["target_date"] == "2024-01-16" and f["frequency"] == "5m"
    more = "date,close\n2024-01-16T09:30:00-05:00,101\n"
    assert client.post("/series/AAPL", content=more, headers=CSV).json()["frequency_source"] == "stored"
    accuracy = client.get("/series/AAPL/accuracy").json()
    assert accuracy["overall"]["resolved"] == 1


def test_calendar_and_frequency_parameters_are_checked(client):
    r = client.post("/series/X", params={"calendar": "NOPE"}, content="date,close\n2024-01-02,1\n", headers=CSV)
    assert r.status_code == 422 and "calendar" in r.text
    r = client.post("/series/X", params={"frequency": "7x"}, content="date,close\n2024-01-02,1\n", headers=CSV)
    assert r.status_code == 422
    client.post("/series/X", content="date,close\n2024-01-02,1\n2024-01-03,2\n", headers=CSV)
    r = client.patch("/series/X", json={"calendar": "24/7"})
    assert r.status_code == 200 and r.json()["series"]["calendar"] == "24/7"
    assert client.patch("/series/X", json={"calendar": "Mars"}).status_code == 422
    config = client.get("/config").json()
    assert "XNYS" in config["calendars"] and "24/7" in config["calendars"] and config["default_calendar"] == "XNYS"
    schema = client.get("/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/series/{ticker}"]["post"]["parameters"]}
    assert "XLON" in params["calendar"]["schema"]["enum"] and "XNAS" in params["calendar"]["schema"]["enum"]
    assert params["frequency"]["schema"]["anyOf"][0]["pattern"].startswith("^(1d|")
