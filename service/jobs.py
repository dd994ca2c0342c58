"""Queue wiring only: build the huey instance from settings, enqueue a job id, JSON messages.

The queue only delivers job ids; the training_job row is the source of truth for a job's state.
Messages are JSON, never pickle: anyone who can write to the queue's file or Redis must not be
able to run code in a worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey
from huey.registry import Message
from huey.serializer import Serializer

from service.settings import Settings

TASK_NAME = "pricecast.train"


class JsonSerializer(Serializer):
    """Serialise huey messages as JSON. Only plain job-id messages are ever sent."""

    def _serialize(self, data: object) -> bytes:
        if isinstance(data, Message):
            fields = data._asdict()
            if any(fields[k] is not None for k in ("on_complete", "on_error", "chord_config")):
                raise ValueError("pricecast queues plain tasks only")
            for key in ("eta", "expires_resolved"):
                if isinstance(fields[key], datetime):
                    fields[key] = fields[key].isoformat()
            return json.dumps({"message": fields}).encode()
        return json.dumps({"value": data}).encode()

    def _deserialize(self, data: bytes) -> object:
        obj = json.loads(data)
        if "message" not in obj:
            return obj["value"]
        fields = obj["message"]
        for key in ("eta", "expires_resolved"):
            if fields.get(key):
                fields[key] = datetime.fromisoformat(fields[key])
        fields["args"] = tuple(fields.get("args") or ())
        return Message(**fields)


class JobQueue:
    """The huey instance for these settings and the one task it runs: execute(job_id)."""

    def __init__(self, settings: Settings, execute: Callable[[int], object] | None = None) -> None:
        self.settings = settings
        self.execute = execute
        common = {"results": False, "store_intermediate_errors": False, "serializer": JsonSerializer()}
        url = settings.queue
        if url.startswith(("redis://", "rediss://")):
            self.huey: Huey = PriorityRedisHuey("pricecast", url=url, **common)
        else:
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey("pricecast", filename=str(path), **common)

        @self.huey.task(name=TASK_NAME)
        def train_job(job_id: int) -> None:
            if self.execute is None:
                raise RuntimeError("this process only enqueues jobs")
            self.execute(int(job_id))

        self._task = train_job

    def enqueue(self, job_id: int, *, priority: int) -> None:
        """Deliver a job id to a worker (higher priority first). Callers send the job row's priority
        through service/usecases/training.py `deliver`, the only place that enqueues."""
        self.huey.enqueue(self._task.s(job_id, priority=priority))

    def pending(self) -> int:
        """Messages waiting in the queue."""
        return self.huey.pending_count()
