"""Next-step forecasts: the levels rule, cached models, and batches that share one price query.

Answers are domain objects (`Forecast`); the use case (service/usecases/forecasts.py) turns them
into the API's ForecastRead and caches the serialised answer under the ticker's revision.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
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
from service.errors import Conflict, InsufficientData, InvalidInput, NotFound, PricecastError, SeriesTooShort, Unavailable
from service.registry import checkpoint_file, is_stale, mark_broken_after, prices_past
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
    """Loaded models by (version id, sha256); serialised answers by (ticker id, revision, version, levels)."""

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


def _predictor(session: Session, settings: Settings, caches: Caches, t: _Target) -> Predictor:
    key = (t.model_id, t.sha256)
    predictor = caches.models.get(key)
    if predictor is None:
        try:
            predictor = checkpoints.load(checkpoint_file(settings, t.checkpoint_path), expected_sha256=t.sha256)
        except CheckpointError as exc:
            # Recorded once this unit of work ends, whatever its outcome, so the request's failure
            # cannot undo it and a session holding SQLite's write lock cannot block it.
            mark_broken_after(session, model_id=t.model_id, reason=str(exc))
            raise Conflict(f"{t.symbol} version {t.version} failed its checkpoint check and is now marked broken; "
                           "activate another version or retrain", details={"ticker": t.symbol, "version": t.version}) from None
        caches.models.put(key, predictor)
    return predictor


def _recent_prices(session: Session, targets: list[_Target]) -> dict[int, list[tuple]]:
    """The latest `history` rows of every target ticker, in one query that walks the (ticker, date) key."""
    depth = max(t.history for t in targets)
    inner = aliased(PricePoint)
    cutoff = (select(inner.ts).where(inner.ticker_id == PricePoint.ticker_id).order_by(inner.ts.desc())
              .offset(depth - 1).limit(1).correlate(PricePoint).scalar_subquery())
    query = (select(PricePoint.ticker_id, PricePoint.ts, PricePoint.close, PricePoint.adj_close)
             .where(PricePoint.ticker_id.in_([t.ticker_id for t in targets]),
                    PricePoint.ts >= func.coalesce(cutoff, _TS_MIN))
             .order_by(PricePoint.ticker_id, PricePoint.ts))
    out: dict[int, list[tuple]] = {t.ticker_id: [] for t in targets}
    for tid, day, close, adj in session.execute(query):
        out[tid].append((day, close, adj))
    return out


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
    ready: list[tuple[_Target, Predictor, np.ndarray, int]] = []
    slots: list[np.ndarray | None] = []
    for t in targets:
        try:
            series, as_of = _series(t, prices[t.ticker_id])
            predictor = _predictor(session, settings, caches, t)
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


def warm_models(settings: Settings, factory: sessionmaker[Session], caches: Caches) -> int:
    """Load the most recently trained active models into the cache (at start, in the background).

    A checkpoint that fails its check is skipped here; the first request for it marks it broken.
    """
    with factory() as session:
        rows = session.execute(select(ModelVersion.id, ModelVersion.checkpoint_sha256, ModelVersion.checkpoint_path)
                               .where(ModelVersion.status == ModelStatus.ACTIVE).order_by(ModelVersion.trained_at.desc())
                               .limit(settings.model_cache_size)).all()
    loaded = 0
    for model_id, sha, path in reversed(rows):  # newest last: most recently used in the LRU
        if caches.models.peek((model_id, sha)):
            continue
        try:
            caches.models.put((model_id, sha), checkpoints.load(checkpoint_file(settings, path), expected_sha256=sha))
            loaded += 1
        except CheckpointError:
            continue
    log.info("model cache warmed with %d active model(s)", loaded)
    return loaded
