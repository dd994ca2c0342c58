"""Small typed factories for tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from service.settings import Settings
from service.store import UploadReport, store_prices
from service.training.jobs import submit_training
from service.training.runner import run_training
from service.uploads import ParsedUpload


def make_upload(*, n: int = 60, start: date = date(2024, 1, 1), seed: int = 0, **columns) -> ParsedUpload:
    """n business days of a random-walk close (plus any extra columns given as lists)."""
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    rng = np.random.default_rng(seed)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))).round(4).tolist()
    return ParsedUpload.of_dates(days, {"close": close, **columns}, n)


def make_series(session: Session, *, symbol: str = "TEST", n: int = 60, **overrides) -> UploadReport:
    report = store_prices(session, symbol=symbol, upload=make_upload(n=n, **overrides))
    session.commit()
    return report


def csv_text(upload: ParsedUpload) -> str:
    cols = list(upload.columns)
    lines = ["date," + ",".join(cols)]
    for i, d in enumerate(upload.dates):
        lines.append(d.isoformat() + "," + ",".join("" if upload.columns[c][i] is None else repr(upload.columns[c][i]) for c in cols))
    return "\n".join(lines) + "\n"


TINY = {"window": 8, "hidden_size": 4, "epochs": 3, "patience": 2, "batch_size": 64}


def queue_job(factory: sessionmaker[Session], settings: Settings, symbol: str = "TEST", **params) -> int:
    """Submit a (tiny by default) training job for a stored series; return its id."""
    with factory() as s:
        job, created = submit_training(s, settings=settings, symbol=symbol, params={**TINY, **params})
        s.commit()
        assert created
        return job.id


def run_job(factory: sessionmaker[Session], settings: Settings, job_id: int, **kw) -> str | None:
    return run_training(settings, factory, job_id=job_id, worker_id="test:1", **kw)


def train_model(factory: sessionmaker[Session], settings: Settings, symbol: str = "TEST", **params) -> int:
    """Train a tiny model for a stored series in this process; return the job id."""
    job_id = queue_job(factory, settings, symbol, **params)
    assert run_job(factory, settings, job_id) == "succeeded"
    return job_id


def corrupt_checkpoint(session: Session, settings: Settings, version) -> None:
    """Flip one byte of a version's stored checkpoint, wherever its store keeps it, and commit."""
    from sqlalchemy import update

    from service.registry import checkpoint_file, is_file, read_checkpoint
    from service.tables import ModelCheckpoint

    data = bytearray(read_checkpoint(session, settings, version))
    data[-10] ^= 0xFF
    if is_file(version.checkpoint_path):
        checkpoint_file(settings, version.checkpoint_path).write_bytes(bytes(data))
    else:
        session.execute(update(ModelCheckpoint).where(ModelCheckpoint.model_version_id == version.id)
                        .values(data=bytes(data)))
        session.commit()
