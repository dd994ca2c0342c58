"""Bulk jobs trained in groups (service/grouptraining.py), against real SQLite and Postgres."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, update

from service.grouptraining import claim_group, run_group
from service.retraining import submit_bulk
from service.tables import JobStatus, ModelVersion, TrainingJob
from service.training.jobs import EPOCH, Origin, cancel_job, list_jobs, reap_stale_jobs
from service.usecases import training as usecase
from service.usecases.runtime import open_runtime
from service.worker import EmbeddedWorker
from tests.factories import TINY, make_series, queue_job, run_job


def _bulk(factory, settings, symbols: list[str], **params) -> list[int]:
    with factory() as s:
        jobs, errors, created = submit_bulk(s, settings=settings, tickers=symbols, params={**TINY, **params},
                                            origin=Origin.BULK)
        s.commit()
        assert not errors
        return [j.id for j in created]


def _series(factory, symbols: list[str], n: int = 400) -> None:
    with factory() as s:
        for i, symbol in enumerate(symbols):
            make_series(s, symbol=symbol, n=n + 7 * i)
        s.commit()


def _jobs(factory, ids: list[int]) -> list[TrainingJob]:
    with factory() as s:
        jobs = list(s.scalars(select(TrainingJob).where(TrainingJob.id.in_(ids)).order_by(TrainingJob.id)))
        s.expunge_all()
        return jobs


def test_a_bulk_request_trains_as_one_group_and_each_job_keeps_its_own_row(factory, settings):
    _series(factory, ["A", "B", "C"])
    ids = _bulk(factory, settings, ["A", "B", "C"])
    assert run_group(settings, factory, job_id=ids[0], worker_id="test:1") == JobStatus.SUCCEEDED
    jobs = _jobs(factory, ids)
    assert [j.status for j in jobs] == ["succeeded"] * 3 and all(j.attempts == 1 for j in jobs)
    for j in jobs:
        assert (j.progress["group"], j.progress["group_size"]) == (ids[0], 3)
        assert len(j.history) == j.progress["epoch"] >= 1 and j.progress["eta_s"] >= 0
        assert j.model_version_id is not None and j.message.startswith("version 1")
    with factory() as s:
        versions = list(s.scalars(select(ModelVersion).order_by(ModelVersion.ticker_id)))
        assert len({v.checkpoint_path for v in versions}) == 3 and {v.status for v in versions} == {"active"}
    assert run_job(factory, settings, ids[1]) is None  # its own message arrives later: already done
    with factory() as s:
        assert [j.id for j in list_jobs(s, group=ids[0])] == ids[::-1]
        assert list_jobs(s, group=ids[1]) == []


def test_a_grouped_job_registers_the_model_a_single_job_would(factory, settings):
    _series(factory, ["A", "B"])
    ids = _bulk(factory, settings, ["A", "B"])
    run_group(settings, factory, job_id=ids[0], worker_id="test:1")
    with factory() as s:
        grouped = s.get(TrainingJob, ids[1]).model_version
        metrics, history = dict(grouped.metrics), s.get(TrainingJob, ids[1]).history
    alone = queue_job(factory, settings, "B")  # the same ticker, params and seed, trained on its own
    assert run_job(factory, settings, alone) == JobStatus.SUCCEEDED
    with factory() as s:
        single = s.get(TrainingJob, alone)
        assert single.history == history or [h["epoch"] for h in single.history] == [h["epoch"] for h in history]
        for key in ("rmse", "coverage_80", "best_epoch", "epochs_run", "point_forecast"):
            assert single.model_version.metrics[key] == metrics[key] or abs(
                single.model_version.metrics[key] - metrics[key]) < 1e-6, key


def test_groups_take_only_queued_bulk_jobs_of_the_same_params(factory, settings):
    _series(factory, ["A", "B", "C", "D", "E"])
    ids = _bulk(factory, settings, ["A", "B"])
    other = _bulk(factory, settings, ["C"], epochs=2)  # different params: a group of its own
    single = queue_job(factory, settings, "D")  # a single-ticker request: never grouped
    cancelled = _bulk(factory, settings, ["E"])[0]
    with factory() as s:
        cancel_job(s, job_id=cancelled)
        s.commit()
    run_group(settings, factory, job_id=ids[0], worker_id="test:1")
    jobs = {j.id: j for j in _jobs(factory, [*ids, *other, single, cancelled])}
    assert [jobs[i].status for i in ids] == ["succeeded", "succeeded"]
    assert jobs[other[0]].status == jobs[single].status == "queued" and jobs[cancelled].status == "cancelled"
    assert jobs[ids[1]].progress["group_size"] == 2
    assert run_group(settings, factory, job_id=single, worker_id="test:1") is None  # not a bulk job
    assert run_job(factory, settings, single) == JobStatus.SUCCEEDED
    assert "group" not in _jobs(factory, [single])[0].progress


def test_a_group_size_limits_the_claim_and_two_workers_split_the_jobs(factory, settings):
    symbols = ["A", "B", "C", "D", "E"]
    _series(factory, symbols)
    ids = _bulk(factory, settings, symbols)
    small = settings.model_copy(update={"train_group_size": 2})
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.setdefault(i, run_group(small, factory, job_id=i,
                                                                                   worker_id=f"test:{i}")))
               for i in (ids[0], ids[3])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = _jobs(factory, ids)
    groups = [j.progress.get("group") for j in jobs if j.status != "queued"]
    assert groups and all(groups.count(g) <= 2 for g in groups)  # the size holds whoever claims first
    assert all(j.attempts == 1 for j in jobs if j.status != "queued")  # none claimed twice
    while left := [j.id for j in _jobs(factory, ids) if j.status == "queued"]:
        assert run_group(small, factory, job_id=left[0], worker_id="test:3") == JobStatus.SUCCEEDED
    jobs = _jobs(factory, ids)
    assert [j.status for j in jobs] == ["succeeded"] * 5 and all(j.attempts == 1 for j in jobs)
    assert max(j.progress["group_size"] for j in jobs) == 2


def test_cancelling_one_running_member_drops_it_and_the_others_finish(factory, settings):
    _series(factory, ["A", "B", "C"])
    ids = _bulk(factory, settings, ["A", "B", "C"], epochs=400, patience=400)
    out = {}
    runner = threading.Thread(target=lambda: out.setdefault("s", run_group(settings, factory, job_id=ids[0],
                                                                           worker_id="test:1")))
    runner.start()
    deadline = time.monotonic() + 120
    while (_jobs(factory, [ids[1]])[0].progress or {}).get("epoch", 0) < 2:
        assert time.monotonic() < deadline and runner.is_alive(), "the group did not report progress"
        time.sleep(0.01)
    with factory() as s:
        assert cancel_job(s, job_id=ids[1]).cancel_requested
        s.commit()
    runner.join(300)
    a, b, c = _jobs(factory, ids)
    assert b.status == "cancelled" and b.model_version_id is None and b.progress["epoch"] < 400
    assert a.status == c.status == "succeeded" and a.progress["epoch"] == c.progress["epoch"] == 400


def test_the_embedded_worker_trains_a_bulk_request_in_groups_and_a_single_request_first(settings):
    s = settings.model_copy(update={"embedded_training": "thread", "workers": 1, "train_group_size": 3})
    rt = open_runtime(s)
    worker = EmbeddedWorker(rt)
    symbols = ["A", "B", "C", "D", "E"]
    try:
        with rt.unit_of_work() as session:
            for i, symbol in enumerate([*symbols, "SOLO"]):
                make_series(session, symbol=symbol, n=400 + i)
        requested = usecase.request_training(rt, tickers=symbols, params=TINY)  # queued first
        solo, _ = usecase.train_ticker(rt, symbol="SOLO", params=TINY)  # asked for later, by name
        worker.start()
        ids = [j.id for j in requested.jobs]
        deadline = time.monotonic() + 120
        while any(usecase.read_job(rt, job_id=i).status in ("queued", "running") for i in [*ids, solo.id]):
            assert time.monotonic() < deadline, "the jobs did not finish"
            time.sleep(0.2)
        jobs = [usecase.read_job(rt, job_id=i) for i in ids]
        assert [j.status for j in jobs] == ["succeeded"] * 5 and all(j.model_version == 1 for j in jobs)
        assert sorted(j.progress["group_size"] for j in jobs) == [2, 2, 3, 3, 3]  # two groups, not five jobs
        alone = usecase.read_job(rt, job_id=solo.id)
        assert alone.status == "succeeded" and "group" not in alone.progress
        assert alone.finished_at <= min(j.started_at for j in jobs)  # it jumped the queue
    finally:
        worker.stop()
        rt.close()


def test_a_shutdown_between_batches_puts_every_member_back_in_the_queue(factory, settings):
    """Issue 13 row 8 for groups: interrupt() stops the group at its next batch; nothing is registered, no attempt counts."""
    _series(factory, ["A", "B", "C"])
    ids = _bulk(factory, settings, ["A", "B", "C"], epochs=50, patience=50)
    assert run_group(settings, factory, job_id=ids[0], worker_id="test:1", interrupt=lambda: True) is None
    jobs = _jobs(factory, ids)
    assert [(j.status, j.attempts, j.model_version_id) for j in jobs] == [("queued", 0, None)] * 3
    assert all("shut down" in j.message for j in jobs)


def test_a_cancel_survives_re_queueing_in_a_group(factory, settings):
    """Issue 13 row 9 for groups: a cancelled member whose worker died is not trained again when a group claims it."""
    _series(factory, ["A", "B"])
    ids = _bulk(factory, settings, ["A", "B"])
    with factory() as s:  # B was cancelled while running, then its worker died and the reaper re-queued it
        s.get(TrainingJob, ids[1]).cancel_requested = True
        s.commit()
    assert run_group(settings, factory, job_id=ids[0], worker_id="test:1") == JobStatus.SUCCEEDED
    a, b = _jobs(factory, ids)
    assert (a.status, b.status, b.model_version_id) == ("succeeded", "cancelled", None)


def test_a_dead_workers_group_is_requeued_member_by_member_and_trained_again(factory, settings):
    _series(factory, ["A", "B", "C"])
    ids = _bulk(factory, settings, ["A", "B", "C"])
    members = claim_group(settings, factory, job_id=ids[0], worker_id="dead:1", size=8)  # then the worker dies
    assert [m.job_id for m in members] == ids
    with factory() as s:
        s.execute(update(TrainingJob).where(TrainingJob.id.in_(ids)).values(heartbeat_at=EPOCH))
        assert sorted(reap_stale_jobs(s, settings=settings)) == ids
        s.commit()
    assert run_group(settings, factory, job_id=ids[2], worker_id="test:2") == JobStatus.SUCCEEDED
    jobs = _jobs(factory, ids)
    assert [(j.status, j.attempts, j.worker_id) for j in jobs] == [("succeeded", 2, "test:2")] * 3
    assert {j.progress["group"] for j in jobs} == {ids[2]}
