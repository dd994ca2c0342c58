"""Forecasts: batches that share one price query and forward pass, forecasts from inline prices, and the
records of served forecasts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import torch
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import checkpoints
from models.errors import CheckpointError, ConfigError
from models.errors import InsufficientData as ModelInsufficientData
from models.predict import Prediction, Predictor, predict_many
from service import bars
from service.calendars import timezone_of, ts_day
from service.db import utcnow
from service.errors import (
    Conflict,
    InsufficientData,
    InvalidInput,
    PricecastError,
    SeriesTooShort,
)
from service.forecasting.caches import Caches
from service.forecasting.levels import DEFAULT_LEVELS
from service.forecasting.targets import Target, find_targets, recent_prices
from service.registry import is_stale, mark_broken_after, prices_past, read_checkpoints
from service.reports import summary
from service.settings import Settings
from service.tables import ForecastRecord
from service.uploads import ParsedUpload


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


def _load(session: Session, settings: Settings, caches: Caches,
          targets: list[Target]) -> dict[int, Predictor | PricecastError]:
    """The predictors of these targets (by model id): cached ones, the rest read in one query and verified.

    A checkpoint that fails its check gives a Conflict for its ticker and marks its version broken.
    """
    out: dict[int, Predictor | PricecastError] = {}
    missing: dict[int, Target] = {}
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


def _predictor(session: Session, settings: Settings, caches: Caches, t: Target) -> Predictor:
    found = _load(session, settings, caches, [t])[t.model_id]
    if isinstance(found, PricecastError):
        raise found
    return found


def _slots(t: Target, ts: np.ndarray, predictor: Predictor) -> np.ndarray | None:
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


def _series(t: Target, rows: list[tuple]) -> tuple[np.ndarray, int]:
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


def _forecast(t: Target, p: Prediction, as_of: int, *, stale: bool, price_field: str | None = None) -> Forecast:
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


def forecast_batch(session: Session, *, settings: Settings, caches: Caches, symbols: list[str],
                   version: int | None = None,
                   levels: tuple[int, ...] = DEFAULT_LEVELS) -> dict[str, Forecast | PricecastError]:
    """Forecast many tickers: one price query and batched forward passes; each served forecast is recorded."""
    results: dict[str, Forecast | PricecastError] = {}
    targets: list[Target] = []
    for symbol, target in find_targets(session, symbols, version).items():
        if isinstance(target, PricecastError):
            results[symbol] = target
        else:
            targets.append(target)
    if not targets:
        return results
    prices = recent_prices(session, targets)
    series_of: dict[str, tuple[np.ndarray, int]] = {}
    for t in targets:
        try:
            series_of[t.symbol] = _series(t, prices[t.ticker_id])
        except PricecastError as exc:
            results[t.symbol] = exc
    loaded = _load(session, settings, caches, [t for t in targets if t.symbol in series_of])
    ready: list[tuple[Target, Predictor, np.ndarray, int]] = []
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
    target = find_targets(session, [symbol], version)[symbol]
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
