"""Prometheus metrics: per-request counters and latencies, uploads, forecasts, caches, jobs, queue, models."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from service.db import utcnow
from service.tables import JobStatus, ModelStatus, ModelVersion, TrainingJob

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pricecast_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("pricecast_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.upload_rows = Counter("pricecast_upload_rows", "Uploaded rows by outcome", ["outcome"], registry=r)
        self.forecasts = Counter("pricecast_forecasts", "Forecasts served, by answer cache outcome", ["cache"], registry=r)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class EdgeCollector:
    """The HTTP edge of the server in this process (api/protocol.py): open and dropped connections."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from service.api import protocol

        state = protocol.current
        if state is None:  # not under `pricecast serve` (tests with TestClient)
            return
        g = GaugeMetricFamily("pricecast_http_connections_open", "Open HTTP connections")
        g.add_metric([], state.open)
        yield g
        c = CounterMetricFamily("pricecast_http_connections_dropped", "HTTP connections closed by the edge, by reason "
                                "(header_timeout, header_too_large, body_timeout, evicted, over_capacity)",
                                labels=["reason"])
        for reason in ("header_timeout", "header_too_large", "body_timeout", "evicted", "over_capacity"):
            c.add_metric([reason], state.dropped[reason])
        yield c


class StateCollector:
    """Gauges read at scrape time: job counts and durations, queue depth, model cache, model age."""

    def __init__(self, app_state) -> None:
        self.state = app_state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        caches = self.state.caches
        for name, lru in (("model", caches.models), ("forecast", caches.forecasts)):
            for outcome, value in (("hit", lru.hits), ("miss", lru.misses)):
                g = GaugeMetricFamily(f"pricecast_{name}_cache_lookups", f"{name} cache lookups", labels=["outcome"])
                g.add_metric([outcome], value)
                yield g
        try:
            yield from self._from_database()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is down
            g = GaugeMetricFamily("pricecast_database_up", "Whether the last scrape could read the database")
            g.add_metric([], 0)
            yield g

    def _from_database(self) -> Iterator[GaugeMetricFamily]:
        with self.state.sessionmaker() as s:
            counts = dict(s.execute(select(TrainingJob.status, func.count()).group_by(TrainingJob.status)).all())
            finished = s.execute(select(TrainingJob.started_at, TrainingJob.finished_at)
                                 .where(TrainingJob.status == JobStatus.SUCCEEDED).order_by(TrainingJob.id.desc()).limit(200)).all()
            trained = s.scalars(select(ModelVersion.trained_at).where(ModelVersion.status == ModelStatus.ACTIVE)).all()
        up = GaugeMetricFamily("pricecast_database_up", "Whether the last scrape could read the database")
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("pricecast_jobs", "Training jobs by status", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        durations = [(f - st).total_seconds() for st, f in finished if st and f]
        d = GaugeMetricFamily("pricecast_job_duration_seconds", "Durations of the last 200 succeeded jobs",
                              labels=["stat"])
        for stat, value in (("median", statistics.median(durations) if durations else 0.0),
                            ("max", max(durations, default=0.0))):
            d.add_metric([stat], value)
        yield d
        try:
            depth = self.state.queue.pending()
        except Exception:  # noqa: BLE001 - the broker may be down
            depth = -1
        q = GaugeMetricFamily("pricecast_queue_depth", "Messages waiting in the job queue (-1: broker unreachable)")
        q.add_metric([], depth)
        yield q
        now = utcnow()
        ages = [(now - t).total_seconds() for t in trained]
        age = GaugeMetricFamily("pricecast_active_model_age_seconds", "Age of the active models", labels=["stat"])
        for stat, value in (("median", statistics.median(ages) if ages else 0.0), ("max", max(ages, default=0.0))):
            age.add_metric([stat], value)
        yield age
        n = GaugeMetricFamily("pricecast_active_models", "Tickers with an active model")
        n.add_metric([], len(ages))
        yield n
