"""Training jobs as domain functions (submit, run, cancel, reap), against real SQLite and Postgres."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from service import registry, training
from service.db import utcnow
from service.errors import Conflict, InsufficientData, InvalidInput, NotFound, QueueFull
from service.tables import ModelCheckpoint, ModelVersion, TrainingJob
from tests.factories import TINY, make_series, queue_job, run_job


def test_submit_validates_and_deduplicates(session, settings):
    make_series(session, n=400)
    with pytest.raises(NotFound):
        training.submit_training(session, settings=settings, symbol="NOPE")
    with pytest.raises(InvalidInput, match="window=2"):
        training.submit_training(session, settings=settings, symbol="TEST", params={"window": 2})
    with pytest.raises(InvalidInput, match="colour"):
        training.submit_training(session, settings=settings, symbol="TEST", params={"colour": 1})
    job, created = training.submit_training(session, settings=settings, symbol="TEST", params=TINY)
    again, created_again = training.submit_training(session, settings=settings, symbol="TEST")
    assert created and not created_again and again.id == job.id and job.status == "queued"


def test_too_short_series_names_the_numbers(session, settings):
    make_series(session, n=80)  # 100 rows train now (the window shrinks); 89 is the minimum
    with pytest.raises(InsufficientData) as info:
        training.submit_training(session, settings=settings, symbol="TEST", params={"window": 30})
    assert info.value.details["available"] == 80 and info.value.details["needed"] == 89


def test_queue_cap(session, settings):
    make_series(session, symbol="A", n=400)
    make_series(session, symbol="B", n=400)
    capped = settings.model_copy(update={"max_queued_jobs": 1})
    training.submit_training(session, settings=capped, symbol="A", params=TINY)
    with pytest.raises(QueueFull):
        training.submit_training(session, settings=capped, symbol="B", params=TINY)


def test_run_registers_active_version_with_checkpoint_and_history(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    job_id = queue_job(factory, settings)
    assert run_job(factory, settings, job_id) == "succeeded"
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        version = job.model_version
        assert (job.status, job.attempts, version.version, version.status) == ("succeeded", 1, 1, "active")
        assert len(job.history) == job.progress["epoch"] >= 1 and job.progress["eta_s"] == 0.0
        # The default store: the bytes are a row written with the version, nothing on disk.
        assert version.checkpoint_path == f"db:checkpoints/t{version.ticker_id}-j{job_id}-a1.safetensors"
        stored = s.get(ModelCheckpoint, version.id)
        assert hashlib.sha256(stored.data).hexdigest() == stored.sha256 == version.checkpoint_sha256
        assert stored.size == len(stored.data) and not settings.checkpoint_dir.exists()
        assert version.metrics["persistence_rmse"] > 0 and len(version.backtest) == version.metrics["n_test"]
    assert run_job(factory, settings, job_id) is None  # a second delivery of the same job is not run again


def test_the_file_store_writes_a_file_per_version_and_retention_removes_it(factory, settings):
    settings = settings.model_copy(update={"checkpoint_store": "files", "keep_versions": 0,
                                           "promotion_policy": "always"})
    with factory() as s:
        make_series(s, n=400)
        s.commit()
    first = run_job(factory, settings, queue_job(factory, settings, epochs=2))
    assert first == "succeeded"
    with factory() as s:
        version = s.scalar(select(ModelVersion))
        path = registry.checkpoint_file(settings, version.checkpoint_path)
        assert path.name == f"t{version.ticker_id}-j{version.job_id}-a1.safetensors"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == version.checkpoint_sha256
        assert s.get(ModelCheckpoint, version.id) is None
        assert registry.load_predictor(s, settings, version).window == version.config["window"]
    assert run_job(factory, settings, queue_job(factory, settings, epochs=2, seed=5)) == "succeeded"
    assert not path.exists()  # retention deleted version 1 and, after the commit, its file
    assert len(list(settings.checkpoint_dir.iterdir())) == 1


def test_cancel_queued_running_and_finished(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    job_id = queue_job(factory, settings)
    with factory() as s:
        assert training.cancel_job(s, job_id=job_id).status == "cancelled"
        s.commit()
    assert run_job(factory, settings, job_id) is None

    job_id = queue_job(factory, settings, epochs=50, patience=50)

    def cancel_during(info):
        if info.epoch == 2:
            with factory() as s:
                assert training.cancel_job(s, job_id=job_id).cancel_requested
                s.commit()

    assert run_job(factory, settings, job_id, on_epoch=cancel_during) == "cancelled"
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert job.status == "cancelled" and job.progress["epoch"] == 3 and job.model_version is None  # next boundary
        assert s.query(ModelVersion).count() == 0
        with pytest.raises(Conflict):
            training.cancel_job(s, job_id=job_id)


def test_job_timeout_fails_cleanly(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    quick = settings.model_copy(update={"job_timeout": 1e-6})
    job_id = queue_job(factory, quick, epochs=50, patience=50)
    assert run_job(factory, quick, job_id) == "failed"
    with factory() as s:
        assert "PRICECAST_JOB_TIMEOUT" in s.get(TrainingJob, job_id).error


def test_unwritable_checkpoint_dir_fails_the_job_and_registers_nothing(factory, settings):
    settings = settings.model_copy(update={"checkpoint_store": "files"})  # the database store needs no folder
    with factory() as s:
        make_series(s, n=400)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    Path(settings.checkpoint_dir).write_text("not a directory")
    job_id = queue_job(factory, settings)
    assert run_job(factory, settings, job_id) == "failed"
    with factory() as s:
        assert "could not write the checkpoint" in s.get(TrainingJob, job_id).error
        assert s.query(ModelVersion).count() == 0


def test_reaper_requeues_stale_then_gives_up(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    job_id = queue_job(factory, settings)
    limited = settings.model_copy(update={"job_max_attempts": 2, "job_heartbeat_timeout": 5})
    stale = utcnow() - timedelta(seconds=60)
    for attempt, expected in ((1, [job_id]), (2, [])):
        with factory() as s:
            s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(
                status="running", attempts=attempt, worker_id="gone:1", heartbeat_at=stale))
            s.commit()
            assert training.reap_stale_jobs(s, settings=limited) == expected
            s.commit()
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert job.status == "failed" and "gave up after 2 attempts" in job.error


def test_reaper_sends_long_queued_jobs_again(factory, settings):
    with factory() as s:
        make_series(s, n=400)
    job_id = queue_job(factory, settings)
    quick = settings.model_copy(update={"job_redeliver_after": 30})
    with factory() as s:
        assert training.reap_stale_jobs(s, settings=quick) == []  # just queued
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
        s.commit()
        assert training.reap_stale_jobs(s, settings=quick) == [job_id]
        s.commit()
        assert training.reap_stale_jobs(s, settings=quick) == []  # not again until the next period
    assert run_job(factory, settings, job_id) == "succeeded"
