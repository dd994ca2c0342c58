"""Training jobs as domain functions (submit, run, cancel, reap), against real SQLite and Postgres."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from service import registry
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound, QueueFull, SeriesTooShort
from service.tables import ModelCheckpoint, ModelVersion, TrainingJob
from service.training.jobs import cancel_job, reap_stale_jobs, submit_training
from service.training.params import COST_FIELDS
from service.training.runner import run_training
from tests.factories import TINY, make_series, queue_job, run_job


def test_submit_validates_and_deduplicates(session, settings):
    make_series(session, n=400)
    with pytest.raises(NotFound):
        submit_training(session, settings=settings, symbol="NOPE")
    with pytest.raises(InvalidInput, match="window=2"):
        submit_training(session, settings=settings, symbol="TEST", params={"window": 2})
    with pytest.raises(InvalidInput, match="colour"):
        submit_training(session, settings=settings, symbol="TEST", params={"colour": 1})
    job, created = submit_training(session, settings=settings, symbol="TEST", params=TINY)
    again, created_again = submit_training(session, settings=settings, symbol="TEST")
    assert created and not created_again and again.id == job.id and job.status == "queued"


def test_too_short_series_names_the_numbers(session, settings):
    make_series(session, n=80)  # 100 rows train now (the window shrinks); 89 is the minimum
    with pytest.raises(SeriesTooShort) as info:
        submit_training(session, settings=settings, symbol="TEST", params={"window": 30})
    assert info.value.details["available"] == 80 and info.value.details["needed"] == 89


def test_queue_cap(session, settings):
    make_series(session, symbol="A", n=400)
    make_series(session, symbol="B", n=400)
    capped = settings.model_copy(update={"max_queued_jobs": 1})
    submit_training(session, settings=capped, symbol="A", params=TINY)
    with pytest.raises(QueueFull):
        submit_training(session, settings=capped, symbol="B", params=TINY)


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
        assert cancel_job(s, job_id=job_id).status == "cancelled"
        s.commit()
    assert run_job(factory, settings, job_id) is None

    job_id = queue_job(factory, settings, epochs=50, patience=50)

    def cancel_during(info):
        if info.epoch == 2:
            with factory() as s:
                assert cancel_job(s, job_id=job_id).cancel_requested
                s.commit()

    assert run_job(factory, settings, job_id, on_epoch=cancel_during) == "cancelled"
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert job.status == "cancelled" and job.progress["epoch"] == 3 and job.model_version is None  # next boundary
        assert s.query(ModelVersion).count() == 0
        with pytest.raises(Conflict):
            cancel_job(s, job_id=job_id)


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
            assert reap_stale_jobs(s, settings=limited) == expected
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
        assert reap_stale_jobs(s, settings=quick) == []  # just queued
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
        s.commit()
        assert reap_stale_jobs(s, settings=quick) == [job_id]
        s.commit()
        assert reap_stale_jobs(s, settings=quick) == []  # not again until the next period
    assert run_job(factory, settings, job_id) == "succeeded"


def test_too_costly_parameters_are_refused_before_queueing_naming_the_parameter_and_the_limit(session, settings):
    """Issue 13 row 5: window 512, hidden 512, 4 layers, batch 8192 was queued and tried to take 84 GB."""
    make_series(session, n=5031)
    huge = {"window": 512, "hidden_size": 512, "layers": 4, "batch_size": 8192}
    with pytest.raises(InvalidInput) as info:
        submit_training(session, settings=settings, symbol="TEST", params=huge)
    field = info.value.details["field"]
    assert "PRICECAST_MAX_TRAIN_MEMORY" in info.value.message and info.value.message.startswith(f"{field}=512:")
    assert info.value.details["estimate_bytes"] > settings.max_train_memory
    # with room for the memory, one epoch at batch 8 would take far longer than the epoch limit
    roomy = settings.model_copy(update={"max_train_memory": 1024**4})
    with pytest.raises(InvalidInput) as info:
        submit_training(session, settings=roomy, symbol="TEST", params={**huge, "batch_size": 8})
    assert "PRICECAST_MAX_EPOCH_SECONDS" in info.value.message and info.value.details["field"] in COST_FIELDS
    assert session.query(TrainingJob).count() == 0
    tight = settings.model_copy(update={"max_train_memory": 64 * 1024**2})
    with pytest.raises(InvalidInput, match="PRICECAST_MAX_TRAIN_MEMORY=64 MiB"):
        submit_training(session, settings=tight, symbol="TEST", params={"window": 256, "hidden_size": 256})
    job, created = submit_training(session, settings=settings, symbol="TEST", params=TINY)
    assert created


def _run_in_thread(factory, settings, job_id):
    import threading

    out: list = []
    thread = threading.Thread(target=lambda: out.append(run_job(factory, settings, job_id)), daemon=True)
    thread.start()
    return thread, out


def _wait_running(factory, job_id, timeout=60.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with factory() as s:
            if s.get(TrainingJob, job_id).status == "running":
                return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never ran")


SLOW = {"window": 64, "hidden_size": 64, "batch_size": 8, "epochs": 50, "patience": 50}  # an epoch takes seconds


def test_cancel_and_timeout_stop_a_job_between_batches_not_at_the_end_of_an_epoch(factory, settings):
    """Issue 13 row 6: both were read only after an epoch; an epoch can take minutes."""
    import time

    with factory() as s:
        make_series(s, n=16000, start=date(1960, 1, 1))
    job_id = queue_job(factory, settings, **SLOW)
    thread, out = _run_in_thread(factory, settings, job_id)
    _wait_running(factory, job_id)
    with factory() as s:
        cancel_job(s, job_id=job_id)
        s.commit()
    asked = time.monotonic()
    thread.join(60)
    assert out == ["cancelled"]
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert job.status == "cancelled" and job.progress["epoch"] == 0, job.progress  # inside the first epoch
    assert time.monotonic() - asked < 15

    quick = settings.model_copy(update={"job_timeout": 0.3})
    job_id = queue_job(factory, quick, **SLOW)
    assert run_job(factory, quick, job_id) == "failed"
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert "PRICECAST_JOB_TIMEOUT" in job.error and job.progress["epoch"] == 0, job.progress


def test_a_cancel_survives_requeueing(factory, settings):
    """Issue 13 row 9: a cancelled running job whose worker died was re-queued and trained again."""
    with factory() as s:
        make_series(s, n=400)
    job_id = queue_job(factory, settings)
    stale = utcnow() - timedelta(seconds=600)
    with factory() as s:  # running on a worker that died after the cancel was asked for
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(
            status="running", attempts=1, worker_id="gone:1", heartbeat_at=stale, cancel_requested=True))
        s.commit()
        assert reap_stale_jobs(s, settings=settings) == []
        s.commit()
        job = s.get(TrainingJob, job_id)
        assert job.status == "cancelled" and "cancelled while running" in job.message
    # a job re-queued with its cancel flag (by an older reaper, or a shutdown) ends cancelled when claimed
    job_id = queue_job(factory, settings)
    with factory() as s:
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(cancel_requested=True))
        s.commit()
    assert run_job(factory, settings, job_id) == "cancelled"
    with factory() as s:
        assert s.get(TrainingJob, job_id).model_version is None and s.query(ModelVersion).count() == 0


def test_an_interrupted_job_goes_back_to_the_queue_without_spending_an_attempt(factory, settings):
    """Issue 13 row 8: a shutting-down server stops its job at the next batch and re-queues it."""
    with factory() as s:
        make_series(s, n=4000)
    job_id = queue_job(factory, settings, **SLOW)
    assert run_training_interrupted(factory, settings, job_id) is None
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert (job.status, job.attempts, job.worker_id) == ("queued", 0, None) and "shut down" in job.message
        assert reap_stale_jobs(s, settings=settings) == [job_id]  # the next reaper pass sends it again


def run_training_interrupted(factory, settings, job_id):
    import time

    start = time.monotonic()
    return run_training(settings, factory, job_id=job_id, worker_id="test:1",
                                 interrupt=lambda: time.monotonic() - start > 0.5)


def test_a_model_is_registered_only_for_the_ticker_data_that_trained_it(factory, settings):
    """Issue 13 row 10: a deleted-and-re-uploaded ticker got the old series' model as its active v1."""
    from service.store import store_prices
    from tests.factories import make_upload

    with factory() as s:
        make_series(s, n=400)
    job_id = queue_job(factory, settings, epochs=3, patience=3)

    def replace_prices(info):
        if info.epoch == 1:
            with factory() as s:
                store_prices(s, symbol="TEST", upload=make_upload(n=400, seed=7), mode="replace")
                s.commit()

    assert run_job(factory, settings, job_id, on_epoch=replace_prices) == "failed"
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert "were replaced or changed while the job trained" in job.error and job.model_version is None
        assert s.query(ModelVersion).count() == 0
    assert not list(settings.checkpoint_dir.glob("*.safetensors"))

    job_id = queue_job(factory, settings, epochs=3, patience=3)  # prices added after the trained ones are fine

    def append_prices(info):
        if info.epoch == 1:
            with factory() as s:
                store_prices(s, symbol="TEST", upload=make_upload(n=5, start=date(2030, 1, 1)))
                s.commit()

    assert run_job(factory, settings, job_id, on_epoch=append_prices) == "succeeded"


def test_ids_are_never_reused_after_a_delete(factory, settings):
    """Issue 13 row 10: on SQLite the newest ticker's and job's ids went to the next ones created."""
    from service.series import delete_series
    from service.tables import Ticker

    with factory() as s:
        make_series(s, symbol="OLD", n=400)
    job_id = queue_job(factory, settings, "OLD")
    with factory() as s:
        old = s.query(Ticker).filter_by(symbol="OLD").one().id
        delete_series(s, symbol="OLD")
        s.commit()
        make_series(s, symbol="NEW", n=400)
        assert s.query(Ticker).filter_by(symbol="NEW").one().id > old
    assert queue_job(factory, settings, "NEW") > job_id
