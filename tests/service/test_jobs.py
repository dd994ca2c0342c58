"""Queue wiring: JSON messages (no pickle) and single-ticker requests ahead of bulk ones."""

from __future__ import annotations

import pytest

from service.jobs import JobQueue
from service.settings import Settings
from service.training.jobs import PRIORITY_BULK, PRIORITY_SINGLE


def queues(tmp_path) -> list[JobQueue]:
    out = [JobQueue(Settings(data_dir=tmp_path))]
    import os

    if os.environ.get("PRICECAST_TEST_REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["PRICECAST_TEST_REDIS_URL"]).flushdb()
        out.append(JobQueue(Settings(data_dir=tmp_path, queue_url=os.environ["PRICECAST_TEST_REDIS_URL"])))
    return out


def test_single_ticker_jobs_are_delivered_before_bulk_ones(tmp_path):
    for queue in queues(tmp_path):
        for job_id in (1, 2, 3):
            queue.enqueue(job_id, priority=PRIORITY_BULK)
        queue.enqueue(4, priority=PRIORITY_SINGLE)
        assert queue.pending() == 4
        order = [queue.huey.dequeue().args[0] for _ in range(4)]
        assert order[0] == 4 and sorted(order[1:]) == [1, 2, 3], (queue.settings.queue, order)


def test_messages_are_json_and_a_pickle_is_refused(tmp_path):
    queue = JobQueue(Settings(data_dir=tmp_path))
    queue.enqueue(7, priority=PRIORITY_BULK)
    raw = queue.huey.storage.dequeue()
    assert raw.startswith(b'{"message": {') and b'"args": [7]' in raw
    import pickle

    with pytest.raises(ValueError):
        queue.huey.serializer.deserialize(pickle.dumps({"evil": 1}))
