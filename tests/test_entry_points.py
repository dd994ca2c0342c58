"""Proof that an action behaves the same whichever way it arrives: `pricecast import`, the single
upload and the bulk upload of the same file leave identical state (rows, revision, resolved
forecasts, queued retrains and the queue itself), because all three call the same use case.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from service.api import create_app
from service.cli import app as cli
from service.db import make_engine, make_sessionmaker
from service.jobs import JobQueue
from service.schemas.forecasts import ForecastRequest
from service.settings import Settings
from service.tables import ForecastRecord, PricePoint, Ticker, TrainingJob
from service.usecases import forecasts, ingest
from service.usecases.runtime import open_runtime
from tests.conftest import data_file
from tests.factories import train_model

pytestmark = pytest.mark.slow


def _state(settings: Settings) -> dict:
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine)() as s:
            return {
                "rows": s.execute(select(PricePoint.ticker_id, PricePoint.ts, PricePoint.close, PricePoint.adj_close,
                                         PricePoint.volume).order_by(PricePoint.ticker_id, PricePoint.ts)).all(),
                "tickers": s.execute(select(Ticker.id, Ticker.symbol, Ticker.revision)).all(),
                "forecasts": s.execute(select(ForecastRecord.id, ForecastRecord.as_of_ts, ForecastRecord.target_ts,
                                              ForecastRecord.actual_price, ForecastRecord.resolved_at.is_not(None))
                                       .order_by(ForecastRecord.id)).all(),
                "jobs": s.execute(select(TrainingJob.id, TrainingJob.ticker_id, TrainingJob.status, TrainingJob.priority,
                                         TrainingJob.attempts, TrainingJob.params).order_by(TrainingJob.id)).all(),
                "queue": JobQueue(settings).pending(),
            }
    finally:
        engine.dispose()


def test_cli_import_single_upload_and_bulk_upload_leave_identical_state(tmp_path: Path):
    lines = data_file("IBM.csv").read_text().splitlines()
    new_file = tmp_path / "IBM.csv"
    new_file.write_text("\n".join(lines) + "\n")
    # The same starting point for each: IBM without its last 3 days, a trained model, one served forecast.
    base = Settings(data_dir=tmp_path / "base", retrain_after=1, embedded_worker=False, promotion_policy="always")
    rt = open_runtime(base)
    ingest.upload_series(rt, symbol="IBM", kind="csv", body=("\n".join(lines[:-3]) + "\n").encode())
    train_model(rt.sessions, base, symbol="IBM")
    forecasts.forecast(rt, ForecastRequest(ticker="IBM"))
    rt.close()
    dirs = {name: tmp_path / name for name in ("cli", "single", "bulk")}
    for path in dirs.values():
        shutil.copytree(base.data_dir, path)
    settings = {name: base.model_copy(update={"data_dir": path}) for name, path in dirs.items()}
    before = _state(settings["cli"])

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PRICECAST_")}  # unset them
    result = CliRunner().invoke(cli, ["import", "ibm", str(new_file), "--json"],
                                env=env | {"PRICECAST_DATA_DIR": str(dirs["cli"]), "PRICECAST_RETRAIN_AFTER": "1",
                                           "PRICECAST_DATABASE_URL": settings["cli"].db_url})
    assert result.exit_code == 0, result.output
    with TestClient(create_app(settings["single"])) as c:
        single = c.post("/series/ibm", content=new_file.read_bytes(), headers={"content-type": "text/csv"})
    long_format = "ticker," + lines[0] + "\n" + "".join(f"IBM,{line}\n" for line in lines[1:])
    with TestClient(create_app(settings["bulk"])) as c:
        bulk = c.post("/series", content=long_format, headers={"content-type": "text/csv"})
    assert single.status_code == bulk.status_code == 200, (single.text, bulk.text)

    states = {name: _state(s) for name, s in settings.items()}
    assert states["cli"] == states["single"] == states["bulk"]
    after = states["cli"]
    assert len(after["rows"]) == len(before["rows"]) + 3 and after["tickers"][0][2] == before["tickers"][0][2] + 1
    assert [f[-1] for f in after["forecasts"]] == [True]  # the served forecast resolved by the new prices
    assert [(j[2], j[3]) for j in after["jobs"]][-1] == ("queued", 0) and after["queue"] == 1  # retrain delivered
    reports = [single.json(), bulk.json()["results"][0]]
    assert all(r["rows_inserted"] == 3 and any("queued retraining job" in w for w in r["warnings"]) for r in reports)
