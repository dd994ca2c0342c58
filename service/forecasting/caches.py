"""The model cache (loaded models by version and hash) and the answer cache, and warming them at start."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models import checkpoints
from models.errors import CheckpointError
from models.predict import Predictor
from service.registry import read_checkpoints
from service.settings import Settings
from service.tables import ModelStatus, ModelVersion

log = logging.getLogger("pricecast.forecast")


class LRU:
    """A thread-safe least-recently-used map, bounded by a count, by estimated bytes, or both.

    `weigh(value)` estimates an entry's bytes; without it only the count bounds the map.
    """

    def __init__(self, size: int | None, *, max_bytes: int | None = None,
                 weigh: Callable[[Any], int] | None = None) -> None:
        self.size, self.max_bytes, self.weigh = size, max_bytes, weigh
        self.data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.data)

    def get(self, key: Any) -> Any:
        with self.lock:
            entry = self.data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self.data.move_to_end(key)
            return entry[0]

    def peek(self, key: Any) -> bool:
        """Whether the key is cached, without counting a hit or a miss."""
        with self.lock:
            return key in self.data

    def put(self, key: Any, value: Any) -> None:
        weight = self.weigh(value) if self.weigh is not None else 0
        with self.lock:
            old = self.data.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self.data[key] = (value, weight)
            self.bytes += weight
            while self.data and self._over():
                _, (_, gone) = self.data.popitem(last=False)
                self.bytes -= gone

    def _over(self) -> bool:
        return (self.size is not None and len(self.data) > self.size) or \
            (self.max_bytes is not None and self.bytes > self.max_bytes)


# Python and torch objects around a loaded model's arrays (tensor headers, dicts, the
# Predictor), measured as RSS growth per loaded checkpoint beyond its arrays: about 6.6 KB.
PREDICTOR_OVERHEAD_BYTES = 7_000


def predictor_bytes(predictor: Predictor) -> int:
    """Estimated memory of a loaded model: its weights, its calibration pool and a fixed overhead."""
    return predictor.nbytes + PREDICTOR_OVERHEAD_BYTES


class Caches:
    """Loaded models by (version id, sha256), bounded by PRICECAST_MODEL_CACHE_MB (and _SIZE when set);
    serialised answers by (ticker id, revision, version, levels)."""

    def __init__(self, settings: Settings) -> None:
        self.models = LRU(settings.model_cache_size, max_bytes=int(settings.model_cache_mb * 1024 * 1024),
                          weigh=predictor_bytes)
        self.forecasts = LRU(settings.forecast_cache_size)



def warm_models(settings: Settings, factory: sessionmaker[Session], caches: Caches) -> int:
    """Load the most recently trained active models into the cache (at start, in the background).

    Reads checkpoints in chunks (one query each), newest first, until the cache's memory budget
    is full; the newest end up most recently used. A checkpoint that fails its check is skipped
    here; the first request for it marks it broken.
    """
    with factory() as session:
        rows = session.execute(select(ModelVersion.id, ModelVersion.checkpoint_sha256, ModelVersion.checkpoint_path)
                               .where(ModelVersion.status == ModelStatus.ACTIVE).order_by(ModelVersion.trained_at.desc())
                               .limit(settings.model_cache_size)).all()
        room = None if caches.models.max_bytes is None else caches.models.max_bytes - caches.models.bytes
        fresh: list[tuple[tuple[int, str], Predictor]] = []
        for start in range(0, len(rows), WARM_CHUNK):
            part = [r for r in rows[start:start + WARM_CHUNK] if not caches.models.peek((r[0], r[1]))]
            read = read_checkpoints(session, settings, {mid: path for mid, _, path in part})
            for model_id, sha, _ in part:
                data = read[model_id]
                try:
                    if isinstance(data, CheckpointError):
                        raise data
                    predictor = checkpoints.from_bytes(data, expected_sha256=sha)
                except CheckpointError:
                    continue
                if room is not None:
                    room -= predictor_bytes(predictor)
                    if room < 0:
                        break
                fresh.append(((model_id, sha), predictor))
            if room is not None and room < 0:
                break
    for key, predictor in reversed(fresh):
        caches.models.put(key, predictor)
    log.info("model cache warmed with %d active model(s)", len(fresh))
    return len(fresh)


WARM_CHUNK = 500
