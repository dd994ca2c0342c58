"""Next-step forecasts: the levels rule, cached models, and batches that share one price query.

Answers are domain objects (`Forecast`); the use case (service/usecases/forecasts.py) turns them
into the API's ForecastRead and caches the serialised answer under the ticker's revision.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import numpy as np
import torch
from sqlalchemy import Engine, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from models import checkpoints
from models.errors import CheckpointError, ConfigError
from models.errors import InsufficientData as ModelInsufficientData
from models.predict import Prediction, Predictor, history_for, predict_many
from service import bars
from service.calendars import timezone_of, ts_day
from service.db import utcnow
from service.errors import (
    Conflict,
    InsufficientData,
    InvalidInput,
    NotFound,
    PricecastError,
    SeriesTooShort,
    Unavailable,
)
from service.registry import is_stale, mark_broken_after, prices_past, read_checkpoints
from service.reports import summary
from service.settings import Settings
from service.tables import ForecastRecord, ModelStatus, ModelVersion, PricePoint, Ticker
from service.uploads import ParsedUpload

log = logging.getLogger("pricecast.forecast")
# The interval-levels rule: the request schema, the CLI and GET /config all read it from here.
LEVEL_MIN, LEVEL_MAX, MAX_LEVELS = 1, 99, 10
DEFAULT_LEVELS = (80, 95)
LEVELS_RULE = (f"1 to {MAX_LEVELS} interval levels, each a whole percent from {LEVEL_MIN} to {LEVEL_MAX} "
               f"(e.g. {list(DEFAULT_LEVELS)}, the default)")


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
    data_start: Any
    data_end: Any
    metrics: dict
    window: int
    history: int  # prices a forecast reads (Predictor.history): window + 1 at least
    calendar: str
    frequency: str


def level_problem(levels: Any) -> str | None:
    """What is wrong with these interval levels (LEVELS_RULE), or None. Booleans are not numbers."""
    if not isinstance(levels, list | tuple):
        return f"{levels!r} is not a list of levels; give {LEVELS_RULE}"
    if not 1 <= len(levels) <= MAX_LEVELS:
        return f"{len(levels)} levels given; give {LEVELS_RULE}"
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not LEVEL_MIN <= level <= LEVEL_MAX:
            return f"{level!r} is not allowed; give {LEVELS_RULE}"
    return None


def check_levels(levels: Any) -> tuple[int, ...]:
    """Validate interval levels; return them unique and ascending. None means the default."""
    if levels is None:
        return DEFAULT_LEVELS
    problem = level_problem(levels)
    if problem is not None:
        raise InvalidInput(f"levels: {problem}", details={"field": "levels", "value": levels})
    return tuple(sorted(set(levels)))


@dataclass(frozen=True)
class Interval:
    level: int
    low: float
    high: float


@dataclass(frozen=True)
class ForecastModel:
    """The model version that made a forecast, with its short metrics block."""

    version: int
    trained_at: datetime
    data_start: date | datetime | None
    data_end: date | datetime | None
    metrics: dict


@dataclass(frozen=True)
class Forecast:
    """One next-step forecast. `ticker_id` and `revision` stamp it for the answer cache; they are not shown.

    as_of / target: dates for a daily series, timestamps in the calendar's zone for intraday bars.
    """

    ticker: str
    as_of: date | datetime
    target: date | datetime
    target_date: date
    calendar: str
    frequency: str
    price_field: str
    last_price: float
    predicted_price: float
    predicted_return: float
    trend: str
    prob_up: float
    intervals: list[Interval]
    no_edge: bool
    stale: bool
    model: ForecastModel
    ticker_id: int
    revision: int


def _targets(session: Session, symbols: list[str], version: int | None) -> dict[str, _Target | PricecastError]:
    pick = ModelVersion.status == ModelStatus.ACTIVE if version is None else ModelVersion.version == version
    rows = session.execute(
        select(Ticker.symbol, Ticker.id, Ticker.revision, ModelVersion.id, ModelVersion.version, ModelVersion.status,
               ModelVersion.checkpoint_path, ModelVersion.checkpoint_sha256, ModelVersion.price_field,
               ModelVersion.trained_at, ModelVersion.data_start_ts, ModelVersion.data_end_ts, ModelVersion.metrics,
               ModelVersion.config, Ticker.calendar, Ticker.frequency)
        .select_from(Ticker).outerjoin(ModelVersion, and_(ModelVersion.ticker_id == Ticker.id, pick))
        .where(Ticker.symbol.in_(symbols))).all()
    found: dict[str, _Target | PricecastError] = {}
    inactive = [tid for (_, tid, _, mid, *_rest) in rows if mid is None and version is None]
    broken = dict(session.execute(select(ModelVersion.ticker_id, func.max(ModelVersion.version))
                                  .where(ModelVersion.ticker_id.in_(inactive), ModelVersion.status == ModelStatus.BROKEN)
                                  .group_by(ModelVersion.ticker_id)).all()) if inactive else {}
    for (symbol, tid, revision, mid, ver, status, path, sha, field, trained, start, end, metrics, config, calendar,
         frequency) in rows:
        if mid is None and version is None and tid in broken:
            found[symbol] = Conflict(f"{symbol} has no active model: version {broken[tid]} was marked broken (its "
                                     f"checkpoint failed its hash check); activate another version or retrain with "
                                     f"POST /series/{symbol}/train", details={"ticker": symbol, "broken": broken[tid]})
        elif mid is None and version is None:
            found[symbol] = Conflict(f"{symbol} has no active model yet; train one with POST /series/{symbol}/train "
                                     "and forecast when the job has succeeded", details={"ticker": symbol})
        elif mid is None:
            found[symbol] = NotFound(f"{symbol} has no model version {version}", details={"ticker": symbol})
        elif status == ModelStatus.BROKEN:
            found[symbol] = Conflict(f"{symbol} version {ver} is broken (its checkpoint failed its hash check); "
                                     f"activate another version or retrain", details={"ticker": symbol, "version": ver})
        else:
            tz = "UTC" if bars.is_daily(frequency) else timezone_of(calendar)
            found[symbol] = _Target(symbol, tid, revision, mid, ver, path, sha, field, trained,
                                    None if start is None else bars.moment(start, frequency, tz),
                                    None if end is None else bars.moment(end, frequency, tz), metrics,
                                    int(config["window"]), history_for(config), calendar, frequency)
    for symbol in symbols:
        found.setdefault(symbol, NotFound(f"ticker {symbol!r} not found", details={"ticker": symbol}))
    return found


def _load(session: Session, settings: Settings, caches: Caches,
          targets: list[_Target]) -> dict[int, Predictor | PricecastError]:
    """The predictors of these targets (by model id): cached ones, the rest read in one query and verified.

    A checkpoint that fails its check gives a Conflict for its ticker and marks its version broken.
    """
    out: dict[int, Predictor | PricecastError] = {}
    missing: dict[int, _Target] = {}
    for t in targets:
        predictor = caches.models.get((t.model_id, t.sha256))
        if predictor is not None:
            out[t.model_id] = predictor
        else:
            missing[t.model_id] = t
    if not missing:
        return out
    read = read_checkpoints(session, settings, {mid: t.checkpoint_path for mid, t in missing.items()})
    for mid, t in missing.items():
        data = read[mid]
        try:
            if isinstance(data, CheckpointError):
                raise data
            predictor = checkpoints.from_bytes(data, expected_sha256=t.sha256, name=f"{t.symbol} version {t.version}")
        except CheckpointError as exc:
            # Recorded once this unit of work ends, whatever its outcome, so the request's failure
            # cannot undo it and a session holding SQLite's write lock cannot block it.
            mark_broken_after(session, model_id=mid, reason=str(exc))
            out[mid] = Conflict(f"{t.symbol} version {t.version} failed its checkpoint check and is now marked broken; "
                                "activate another version or retrain",
                                details={"ticker": t.symbol, "version": t.version})
            continue
        caches.models.put((mid, t.sha256), predictor)
        out[mid] = predictor
    return out


def _predictor(session: Session, settings: Settings, caches: Caches, t: _Target) -> Predictor:
    found = _load(session, settings, caches, [t])[t.model_id]
    if isinstance(found, PricecastError):
        raise found
    return found


def _recent_prices(session: Session, targets: list[_Target]) -> dict[int, list[tuple]]:
    """The latest `history` rows of every target ticker, in two indexed queries whatever the batch's size.

    First each ticker's cutoff (its depth-th latest bar: one short walk down the (ticker, ts) key
    per ticker), then the rows at or after it: tickers sharing a cutoff (a universe updated to the
    same day) share one `ticker_id IN (...) AND ts >= cutoff` term. A cutoff correlated with every
    price row instead was re-run per row: 0.8 s for 1,000 tickers on SQLite.
    """
    depth = max(t.history for t in targets)
    ids = list(dict.fromkeys(t.ticker_id for t in targets))
    inner = aliased(PricePoint)
    cutoff = (select(inner.ts).where(inner.ticker_id == Ticker.id).order_by(inner.ts.desc())
              .offset(depth - 1).limit(1).correlate(Ticker).scalar_subquery())
    by_cut: dict[int, list[int]] = {}
    for chunk in range(0, len(ids), _CHUNK):
        for tid, cut in session.execute(select(Ticker.id, cutoff).where(Ticker.id.in_(ids[chunk:chunk + _CHUNK]))):
            by_cut.setdefault(_TS_MIN if cut is None else cut, []).append(tid)
    out: dict[int, list[tuple]] = {t.ticker_id: [] for t in targets}
    groups = list(by_cut.items())
    # Straight to the driver: 150,000 rows through SQLAlchemy's result objects took 0.2 s of CPU.
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        for chunk in range(0, len(groups), _GROUPS):
            part = groups[chunk:chunk + _GROUPS]
            where = " OR ".join(f"(ticker_id IN ({', '.join([mark] * len(tids))}) AND ts >= {mark})"
                                for _, tids in part)
            cursor.execute(f"SELECT ticker_id, ts, close, adj_close FROM price_point WHERE {where} "
                           "ORDER BY ticker_id, ts", [v for cut, tids in part for v in (*tids, cut)])
            for tid, rows in groupby(cursor.fetchall(), key=itemgetter(0)):
                out[tid] = [r[1:] for r in rows]
    finally:
        cursor.close()
    return out


_GROUPS = 200  # distinct cutoffs per statement
_CHUNK = 2000  # tickers per statement: 2 parameters each, well under every backend's limit
_TS_MIN = -(2**62)


def _slots(t: _Target, ts: np.ndarray, predictor: Predictor) -> np.ndarray | None:
    """Intraday: the slots of the prices read and of the bar being forecast (models/seasonality.py)."""
    if bars.is_daily(t.frequency) or getattr(predictor, "profile", None) is None:
        return None
    seconds = bars.bar_seconds(t.frequency)
    target = bars.next_target(t.calendar, t.frequency, int(ts[-1]))
    stamps = np.append(ts, target)
    cal = bars.calendar_for(t.calendar, stamps)
    # The profile's last category is "after a closure"; its time-of-day count is one less.
    slots, _ = bars.slots(cal, stamps, seconds, tod_count=predictor.profile.factors.size - 1)
    return slots


def _series(t: _Target, rows: list[tuple]) -> tuple[np.ndarray, int]:
    needed = t.window + 1
    rows = rows[-t.history:]
    if len(rows) < needed:  # the stored series' state, not the request: 409 (row 22 of issue 13)
        raise SeriesTooShort(f"{t.symbol} has {len(rows)} prices; version {t.version} needs window+1={needed}",
                             details={"ticker": t.symbol, "needed": needed, "available": len(rows)})
    column = 2 if t.price_field == "adj_close" else 1
    values = _complete_suffix([r[column] for r in rows])
    if len(values) < needed:
        raise SeriesTooShort(f"{t.symbol}: version {t.version} models adj_close, but some of the last {needed} "
                             "rows have none; upload adj_close for them or retrain",
                             details={"ticker": t.symbol, "needed": needed, "available": len(values)})
    return np.array(values, dtype=np.float64), rows[-1][0]


def _complete_suffix(values: list) -> list:
    """The values after the last missing one (the filter reads fewer days rather than a gap)."""
    missing = [i for i, v in enumerate(values) if v is None]
    return values[missing[-1] + 1:] if missing else values


def _forecast(t: _Target, p: Prediction, as_of: int, *, stale: bool, price_field: str | None = None) -> Forecast:
    tz = "UTC" if bars.is_daily(t.frequency) else timezone_of(t.calendar)
    target = bars.next_target(t.calendar, t.frequency, as_of)
    return Forecast(
        ticker=t.symbol, as_of=bars.moment(as_of, t.frequency, tz), target=bars.moment(target, t.frequency, tz),
        target_date=ts_day(int(bars.local_dates(np.array([target]), t.frequency, tz)[0])), calendar=t.calendar,
        frequency=t.frequency, price_field=price_field or t.price_field,
        last_price=p.last_price, predicted_price=p.predicted_price, predicted_return=p.predicted_return,
        trend=p.trend, prob_up=p.prob_up, intervals=[Interval(lv, lo, hi) for lv, lo, hi in p.intervals],
        no_edge=bool(t.metrics.get("no_edge", True)), stale=stale,
        model=ForecastModel(t.version, t.trained_at, t.data_start, t.data_end, summary(t.metrics)),
        ticker_id=t.ticker_id, revision=t.revision)


def revision_stamps(engine: Engine, symbols: list[str]) -> dict[str, tuple[int, int]]:
    """(ticker id, revision) of each known symbol, in one indexed query.

    A ticker's revision changes with its prices and with every registry change (new, activated
    or broken version), in any process, so an answer cached under it is never stale. This runs
    on every forecast request, so it talks to the driver directly: SQLAlchemy's statement
    execution was 17% of the server's CPU under load (py-spy).
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
    return stamps


def forecast_batch(session: Session, *, settings: Settings, caches: Caches, symbols: list[str],
                   version: int | None = None,
                   levels: tuple[int, ...] = DEFAULT_LEVELS) -> dict[str, Forecast | PricecastError]:
    """Forecast many tickers: one price query and batched forward passes; each served forecast is recorded."""
    results: dict[str, Forecast | PricecastError] = {}
    targets: list[_Target] = []
    for symbol, target in _targets(session, symbols, version).items():
        if isinstance(target, PricecastError):
            results[symbol] = target
        else:
            targets.append(target)
    if not targets:
        return results
    prices = _recent_prices(session, targets)
    series_of: dict[str, tuple[np.ndarray, int]] = {}
    for t in targets:
        try:
            series_of[t.symbol] = _series(t, prices[t.ticker_id])
        except PricecastError as exc:
            results[t.symbol] = exc
    loaded = _load(session, settings, caches, [t for t in targets if t.symbol in series_of])
    ready: list[tuple[_Target, Predictor, np.ndarray, int]] = []
    slots: list[np.ndarray | None] = []
    for t in targets:
        if t.symbol not in series_of:
            continue
        try:
            series, as_of = series_of[t.symbol]
            predictor = loaded[t.model_id]
            if isinstance(predictor, PricecastError):
                raise predictor
            stamps = np.fromiter((r[0] for r in prices[t.ticker_id][-series.size:]), dtype=np.int64, count=series.size)
            slots.append(_slots(t, stamps, predictor))
            ready.append((t, predictor, series, as_of))
        except PricecastError as exc:
            results[t.symbol] = exc
    if not ready:
        return results
    predictions = predict_many([r[1] for r in ready], [r[2] for r in ready], levels, slots=slots)
    behind = prices_past(session, model_ids=[r[0].model_id for r in ready])
    records = []
    for (t, _, _, as_of), p in zip(ready, predictions, strict=True):
        out = _forecast(t, p, as_of, stale=is_stale(settings, behind.get(t.model_id, 0)))
        results[t.symbol] = out
        records.append({"ticker_id": t.ticker_id, "version": t.version, "price_field": t.price_field,
                        "as_of_ts": as_of, "last_price": p.last_price, "predicted_price": p.predicted_price,
                        "prob_up": p.prob_up,
                        "intervals": [{"level": i.level, "low": i.low, "high": i.high} for i in out.intervals]})
    _record(session, records)
    return results


def _record(session: Session, records: list[dict]) -> None:
    """Keep one served forecast per (ticker, version, as_of); repeats are ignored."""
    if not records:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    session.execute(insert(ForecastRecord).on_conflict_do_nothing(index_elements=["ticker_id", "version", "as_of_ts"]),
                    [{**r, "served_at": now} for r in records])


def forecast_inline(session: Session, *, settings: Settings, caches: Caches, symbol: str, upload: ParsedUpload,
                    version: int | None = None, levels: tuple[int, ...] = DEFAULT_LEVELS) -> Forecast:
    """Forecast from prices sent with the request; nothing is stored or recorded."""
    target = _targets(session, [symbol], version)[symbol]
    if isinstance(target, PricecastError):
        raise target
    bars.resolve(upload, calendar=target.calendar, stored=target.frequency, given=None)
    predictor = _predictor(session, settings, caches, target)
    field = target.price_field
    values = upload.columns.get(field) if field in upload.columns else None
    if values is None or any(v is None for v in values[-(target.window + 1):]):
        field, values = "close", upload.columns["close"]
    try:  # up to `history` prices are read; window + 1 is enough, with a shorter volatility history
        series = np.array(_complete_suffix(values[-predictor.history:]), dtype=np.float64)
        p = predictor.predict(series, levels, slots=_slots(target, upload.ts[-series.size:], predictor))
    except ModelInsufficientData as exc:
        raise InsufficientData(f"prices: {exc.available} given, version {target.version} needs window+1="
                               f"{exc.needed}", details={"field": "prices", "needed": exc.needed,
                                                          "available": exc.available}) from None
    except ConfigError as exc:
        raise InvalidInput(f"prices: {exc}", details={"field": "prices"}) from None
    return _forecast(target, p, int(upload.ts[-1]), stale=False, price_field=field)


def use_threads(settings: Settings) -> None:
    """Run forecasts on PRICECAST_TORCH_THREADS threads (1 by default).

    A batch's forward pass is small matrix products: on a shared 2-core host torch's default of
    one thread per core made them 10 to 20 times slower (threads waiting on each other), and
    request threads already run batches side by side.
    """
    torch.set_num_threads(settings.torch_threads)


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
