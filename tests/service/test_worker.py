"""Job consumers: the embedded worker runs a delivered job end to end through the real huey consumer."""

from __future__ import annotations

import time

from service.tables import JobStatus
from service.usecases import training
from service.usecases.runtime import open_runtime
from service.worker import EmbeddedWorker, process_runtime, worker_id
from tests.factories import TINY, make_series


def test_the_embedded_worker_trains_what_a_request_delivered(settings):
    s = settings.model_copy(update={"embedded_training": "thread"})
    rt = open_runtime(s)
    worker = EmbeddedWorker(rt)
    try:
        with rt.unit_of_work() as session:
            make_series(session, symbol="A", n=400)
        worker.start()
        job, created = training.train_ticker(rt, symbol="A", params=TINY)
        deadline = time.monotonic() + 120
        while training.read_job(rt, job_id=job.id).status in (JobStatus.QUEUED, JobStatus.RUNNING):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.2)
        done = training.read_job(rt, job_id=job.id)
        assert created and done.status == JobStatus.SUCCEEDED and done.model_version == 1
        assert done.worker_id.endswith(f":{worker_id().rsplit(':', 1)[1]}")
    finally:
        worker.stop()
        rt.close()


def test_one_runtime_per_process(settings):
    assert process_runtime(settings) is process_runtime(settings)
