"""Next-step forecasts: cached models, cached answers keyed by (model version, series revision), batches."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from models import checkpoints
from models.errors import CheckpointError, ConfigError
from models.errors import InsufficientData as ModelInsufficientData
from models.predict import Prediction, Predictor, history_for, predict_many
from service.db import utcnow
from service.errors import Conflict, InsufficientData, InvalidInput, NotFound, PricecastError, Unavailable
from service.reports import summary
from service.settings import Settings
from service.tables import ForecastRecord, ModelVersion, PricePoint, Ticker
from service.uploads import ParsedUpload

log = logging.getLogger("pricecast.forecast")
DEFAULT_LEVELS = (80, 95)


class LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any:
        with self.lock:
            value = self.data.get(key)
            if value is None:
                self.misses += 1
                return None
            self.hits += 1
            self.data.move_to_end(key)
            return value

    def peek(self, key: Any) -> bool:
        """Whether the key is cached, without counting a hit or a miss."""
        with self.lock:
            return key in self.data

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class Caches:
    """Loaded models by (version id, sha256) and answers by (version id, revision, levels)."""

    def __init__(self, settings: Settings) -> None:
        self.models = LRU(settings.model_cache_size)
        self.forecasts = LRU(settings.forecast_cache_size)


@dataclass(frozen=True)
class _Target:
    symbol: str
    ticker_id: int
    revision: int
    model_id: int
    version: int
    checkpoint_path: str
    sha256: str
    price_field: str
    trained_at: Any
    data_start: date | None
    data_end: date | None
    metrics: dict
    window: int
    history: int  # prices a forecast reads (Predictor.history): window + 1 at least


def check_levels(levels: list[int] | tuple[int, ...] | None) -> tuple[int, ...]:
    """Validate interval levels (integer percents 1..99); return them unique and ascending."""
    if levels is None:
        return DEFAULT_LEVELS
    if not levels or len(levels) > 10:
        raise InvalidInput(f"levels={list(levels)!r}: give 1 to 10 levels", details={"field": "levels"})
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 99:
            raise InvalidInput(f"levels: {level!r} must be an integer percent between 1 and 99",
                               details={"field": "levels", "value": level})
    return tuple(sorted(set(levels)))


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _targets(session: Session, symbols: list[str], version: int | None) -> dict[str, _Target | PricecastError]:
    pick = ModelVersion.status == "active" if version is None else ModelVersion.version == version
    rows = session.execute(
        select(Ticker.symbol, Ticker.id, Ticker.revision, ModelVersion.id, ModelVersion.version, ModelVersion.status,
               ModelVersion.checkpoint_path, ModelVersion.checkpoint_sha256, ModelVersion.price_field,
               ModelVersion.trained_at, ModelVersion.data_start, ModelVersion.data_end, ModelVersion.metrics,
               ModelVersion.config)
        .select_from(Ticker).outerjoin(ModelVersion, and_(ModelVersion.ticker_id == Ticker.id, pick))
        .where(Ticker.symbol.in_(symbols))).all()
    found: dict[str, _Target | PricecastError] = {}
    inactive = [tid for (_, tid, _, mid, *_rest) in rows if mid is None and version is None]
    broken = dict(session.execute(select(ModelVersion.ticker_id, func.max(ModelVersion.version))
                                  .where(ModelVersion.ticker_id.in_(inactive), ModelVersion.status == "broken")
                                  .group_by(ModelVersion.ticker_id)).all()) if inactive else {}
    for (symbol, tid, revision, mid, ver, status, path, sha, field, trained, start, end, metrics, config) in rows:
        if mid is None and version is None and tid in broken:
            found[symbol] = Conflict(f"{symbol} has no active model: version {broken[tid]} was marked broken (its "
                                     f"checkpoint failed its hash check); activate another version or retrain with "
                                     f"POST /series/{symbol}/train", details={"ticker": symbol, "broken": broken[tid]})
        elif mid is None and version is None:
            found[symbol] = Conflict(f"{symbol} has no active model yet; train one with POST /series/{symbol}/train "
                                     "and forecast when the job has succeeded", details={"ticker": symbol})
        elif mid is None:
            found[symbol] = NotFound(f"{symbol} has no model version {version}", details={"ticker": symbol})
        elif status == "broken":
            found[symbol] = Conflict(f"{symbol} version {ver} is broken (its checkpoint failed its hash check); "
                                     f"activate another version or retrain", details={"ticker": symbol, "version": ver})
        else:
            found[symbol] = _Target(symbol, tid, revision, mid, ver, path, sha, field, trained, start, end, metrics,
                                    int(config["window"]), history_for(config))
    for symbol in symbols:
        found.setdefault(symbol, NotFound(f"ticker {symbol!r} not found", details={"ticker": symbol}))
    return found


def _predictor(session: Session, settings: Settings, caches: Caches, t: _Target) -> Predictor:
    key = (t.model_id, t.sha256)
    predictor = caches.models.get(key)
    if predictor is None:
        try:
            predictor = checkpoints.load(settings.data_dir / t.checkpoint_path, expected_sha256=t.sha256)
        except CheckpointError as exc:
            _mark_broken(session, t, str(exc))
            raise Conflict(f"{t.symbol} version {t.version} failed its checkpoint check and is now marked broken; "
                           "activate another version or retrain", details={"ticker": t.symbol, "version": t.version}) from None
        caches.models.put(key, predictor)
    return predictor


def _mark_broken(session: Session, t: _Target, reason: str) -> None:
    """Record a broken checkpoint in its own transaction, so the request's failure cannot undo it."""
    log.error("checkpoint of %s v%s refused: %s", t.symbol, t.version, reason)
    with Session(bind=session.get_bind()) as own:
        was = own.scalar(select(ModelVersion.status).where(ModelVersion.id == t.model_id))
        own.execute(update(ModelVersion).where(ModelVersion.id == t.model_id)
                    .values(status="broken", promotion=f"broken: {reason}"))
        if was == "active":  # the ticker's forecasts change: invalidate caches everywhere
            own.execute(update(Ticker).where(Ticker.id == t.ticker_id).values(revision=Ticker.revision + 1))
        own.commit()


def _recent_prices(session: Session, targets: list[_Target]) -> dict[int, list[tuple]]:
    """The latest `history` rows of every target ticker, in one query that walks the (ticker, date) key."""
    depth = max(t.history for t in targets)
    inner = aliased(PricePoint)
    cutoff = (select(inner.date).where(inner.ticker_id == PricePoint.ticker_id).order_by(inner.date.desc())
              .offset(depth - 1).limit(1).correlate(PricePoint).scalar_subquery())
    query = (select(PricePoint.ticker_id, PricePoint.date, PricePoint.close, PricePoint.adj_close)
             .where(PricePoint.ticker_id.in_([t.ticker_id for t in targets]),
                    PricePoint.date >= func.coalesce(cutoff, date(1, 1, 1)))
             .order_by(PricePoint.ticker_id, PricePoint.date))
    out: dict[int, list[tuple]] = {t.ticker_id: [] for t in targets}
    for tid, day, close, adj in session.execute(query):
        out[tid].append((day, close, adj))
    return out


def _series(t: _Target, rows: list[tuple]) -> tuple[np.ndarray, date]:
    needed = t.window + 1
    rows = rows[-t.history:]
    if len(rows) < needed:
        raise InsufficientData(f"{t.symbol} has {len(rows)} prices; version {t.version} needs window+1={needed}",
                               details={"ticker": t.symbol, "needed": needed, "available": len(rows)})
    column = 2 if t.price_field == "adj_close" else 1
    values = _complete_suffix([r[column] for r in rows])
    if len(values) < needed:
        raise InsufficientData(f"{t.symbol}: version {t.version} models adj_close, but some of the last {needed} "
                               "rows have none; upload adj_close for them or retrain",
                               details={"ticker": t.symbol, "needed": needed, "available": len(values)})
    return np.array(values, dtype=np.float64), rows[-1][0]


def _complete_suffix(values: list) -> list:
    """The values after the last missing one (the filter reads fewer days rather than a gap)."""
    missing = [i for i, v in enumerate(values) if v is None]
    return values[missing[-1] + 1:] if missing else values


def _behind(session: Session, targets: list[_Target]) -> dict[int, int]:
    ends = {t.ticker_id: t.data_end for t in targets if t.data_end is not None}
    if not ends:
        return {}
    rows = session.execute(select(PricePoint.ticker_id, func.count())
                           .join(ModelVersion, and_(ModelVersion.ticker_id == PricePoint.ticker_id,
                                                    ModelVersion.id.in_([t.model_id for t in targets]),
                                                    PricePoint.date > ModelVersion.data_end))
                           .group_by(PricePoint.ticker_id)).all()
    return dict(rows)


def shape(t: _Target, p: Prediction, as_of: date, *, stale: bool, price_field: str | None = None) -> dict:
    """The forecast object of the API and the CLI."""
    return {
        "ticker": t.symbol, "as_of": as_of.isoformat(), "target_date": next_weekday(as_of).isoformat(),
        "price_field": price_field or t.price_field, "last_price": p.last_price,
        "predicted_price": p.predicted_price, "predicted_return": p.predicted_return, "trend": p.trend,
        "prob_up": p.prob_up, "intervals": [{"level": lv, "low": lo, "high": hi} for lv, lo, hi in p.intervals],
        "no_edge": bool(t.metrics.get("no_edge", True)), "stale": stale,
        "model": {"version": t.version, "trained_at": t.trained_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                  "data_start": t.data_start.isoformat() if t.data_start else None,
                  "data_end": t.data_end.isoformat() if t.data_end else None, "metrics": summary(t.metrics)},
    }


def cached_answers(engine: Engine, caches: Caches, symbols: list[str], version: int | None,
                   levels: tuple[int, ...]) -> tuple[dict[str, tuple[dict, bytes]], list[str]]:
    """Answers still valid for each ticker's revision (one indexed query); return (hits, misses).

    A ticker's revision changes with its prices and with every registry change (new, activated
    or broken version), in any process, so a hit is never stale. This runs on every forecast
    request, so it talks to the driver directly: SQLAlchemy's statement execution was 17% of
    the server's CPU under load (py-spy).
    """
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT symbol, id, revision FROM ticker WHERE symbol IN ({', '.join([mark] * len(symbols))})"
    try:
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, symbols)
            stamps = {sym: (tid, rev) for sym, tid, rev in cursor.fetchall()}
            cursor.close()
        finally:
            conn.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        raise Unavailable(f"the database is unavailable ({type(exc).__name__}); retry shortly",
                          headers={"Retry-After": "1"}) from None
    hits, misses = {}, []
    for symbol in symbols:
        stamp = stamps.get(symbol)
        answer = caches.forecasts.get((*stamp, version, levels)) if stamp else None
        if answer is None:
            misses.append(symbol)
        else:
            hits[symbol] = answer
    return hits, misses


def forecast_batch(session: Session, *, settings: Settings, caches: Caches, symbols: list[str],
                   version: int | None = None, levels: tuple[int, ...] = DEFAULT_LEVELS) -> dict[str, dict | PricecastError]:
    """Forecast many tickers: misses share one price query and batched forward passes; answers are cached."""
    results: dict[str, dict | PricecastError] = {}
    misses: list[_Target] = []
    for symbol, target in _targets(session, symbols, version).items():
        if isinstance(target, PricecastError):
            results[symbol] = target
            continue
        cached = caches.forecasts.get((target.ticker_id, target.revision, version, levels))
        if cached is not None:
            results[symbol] = cached[0]
        else:
            misses.append(target)
    if not misses:
        return results
    prices = _recent_prices(session, misses)
    ready: list[tuple[_Target, Predictor, np.ndarray, date]] = []
    for t in misses:
        try:
            series, as_of = _series(t, prices[t.ticker_id])
            ready.append((t, _predictor(session, settings, caches, t), series, as_of))
        except PricecastError as exc:
            results[t.symbol] = exc
    if not ready:
        return results
    predictions = predict_many([r[1] for r in ready], [r[2] for r in ready], levels)
    behind = _behind(session, [r[0] for r in ready])
    records = []
    for (t, _, _, as_of), p in zip(ready, predictions, strict=True):
        out = shape(t, p, as_of, stale=behind.get(t.ticker_id, 0) >= settings.stale_after)
        caches.forecasts.put((t.ticker_id, t.revision, version, levels), (out, json.dumps(out).encode()))
        results[t.symbol] = out
        records.append({"ticker_id": t.ticker_id, "version": t.version, "price_field": t.price_field,
                        "as_of": as_of, "last_price": p.last_price, "predicted_price": p.predicted_price,
                        "prob_up": p.prob_up, "intervals": out["intervals"]})
    _record(session, records)
    return results


def _record(session: Session, records: list[dict]) -> None:
    """Keep one served forecast per (ticker, version, as_of); repeats are ignored."""
    if not records:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    session.execute(insert(ForecastRecord).on_conflict_do_nothing(index_elements=["ticker_id", "version", "as_of"]),
                    [{**r, "served_at": now} for r in records])


def forecast_inline(session: Session, *, settings: Settings, caches: Caches, symbol: str, upload: ParsedUpload,
                    version: int | None = None, levels: tuple[int, ...] = DEFAULT_LEVELS) -> dict:
    """Forecast from prices sent with the request; nothing is stored or recorded."""
    target = _targets(session, [symbol], version)[symbol]
    if isinstance(target, PricecastError):
        raise target
    predictor = _predictor(session, settings, caches, target)
    field = target.price_field
    values = upload.columns.get(field) if field in upload.columns else None
    if values is None or any(v is None for v in values[-(target.window + 1):]):
        field, values = "close", upload.columns["close"]
    try:  # up to `history` prices are read; window + 1 is enough, with a shorter volatility history
        p = predictor.predict(np.array(_complete_suffix(values[-predictor.history:]), dtype=np.float64), levels)
    except ModelInsufficientData as exc:
        raise InsufficientData(f"prices: {exc.available} given, version {target.version} needs window+1="
                               f"{exc.needed}", details={"field": "prices", "needed": exc.needed,
                                                          "available": exc.available}) from None
    except ConfigError as exc:
        raise InvalidInput(f"prices: {exc}", details={"field": "prices"}) from None
    return shape(target, p, upload.dates[-1], stale=False, price_field=field)


def warm_models(settings: Settings, factory: sessionmaker[Session], caches: Caches) -> int:
    """Load the most recently trained active models into the cache (at start, in the background).

    A checkpoint that fails its check is skipped here; the first request for it marks it broken.
    """
    with factory() as session:
        rows = session.execute(select(ModelVersion.id, ModelVersion.checkpoint_sha256, ModelVersion.checkpoint_path)
                               .where(ModelVersion.status == "active").order_by(ModelVersion.trained_at.desc())
                               .limit(settings.model_cache_size)).all()
    loaded = 0
    for model_id, sha, path in reversed(rows):  # newest last: most recently used in the LRU
        if caches.models.peek((model_id, sha)):
            continue
        try:
            caches.models.put((model_id, sha), checkpoints.load(settings.data_dir / path, expected_sha256=sha))
            loaded += 1
        except CheckpointError:
            continue
    log.info("model cache warmed with %d active model(s)", loaded)
    return loaded
