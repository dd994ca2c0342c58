"""Bulk and automatic (re)training: many tickers per request, stale models, and retraining when prices arrive."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import InvalidInput, PricecastError, TooCostly
from service.registry import is_stale, prices_past
from service.settings import Settings
from service.tables import ModelStatus, ModelVersion, Ticker, TrainingJob
from service.tickers import normalise_ticker
from service.training.jobs import Origin, lock_existing_tickers, submit_training


def points_behind(session: Session, *, symbols: list[str] | None = None) -> dict[str, int]:
    """For each ticker with an active model: how many prices lie past its training data."""
    query = (select(Ticker.symbol, ModelVersion.id)
             .join(ModelVersion, (ModelVersion.ticker_id == Ticker.id) & (ModelVersion.status == ModelStatus.ACTIVE)))
    if symbols is not None:
        query = query.where(Ticker.symbol.in_(symbols))
    active = dict(session.execute(query).all())
    behind = prices_past(session, model_ids=list(active.values()))
    return {symbol: behind.get(model_id, 0) for symbol, model_id in active.items()}


def stale_tickers(session: Session, *, settings: Settings) -> list[str]:
    """Tickers whose active model is stale (PRICECAST_STALE_AFTER prices behind), by symbol."""
    return sorted(t for t, n in points_behind(session).items() if is_stale(settings, n))


def submit_bulk(session: Session, *, settings: Settings, tickers: list[str] | None = None, all_: bool = False,
                stale: bool = False, params: dict | None = None,
                origin: Origin = Origin.BULK) -> tuple[list[TrainingJob], list[dict], list[TrainingJob]]:
    """Queue one job per ticker; return (jobs, per-ticker errors, newly created jobs)."""
    if sum((tickers is not None, bool(all_), bool(stale))) != 1:
        raise InvalidInput('give exactly one of {"tickers": [...]}, {"all": true} or {"stale": true}',
                           details={"field": "tickers"})
    if all_:
        tickers = list(session.scalars(select(Ticker.symbol).order_by(Ticker.symbol)))
    elif stale:
        tickers = stale_tickers(session, settings=settings)
    assert tickers is not None
    if len(tickers) > settings.max_bulk_tickers:
        raise InvalidInput(f"tickers: {len(tickers)} given, at most PRICECAST_MAX_BULK_TICKERS="
                           f"{settings.max_bulk_tickers} per request", details={"field": "tickers"})
    jobs, errors, created = [], [], []
    known = []
    for raw in dict.fromkeys(tickers):
        try:
            known.append(normalise_ticker(raw))
        except PricecastError:
            pass  # reported below, in the request's order
    lock_existing_tickers(session, symbols=known)
    for raw in dict.fromkeys(tickers):
        try:
            symbol = normalise_ticker(raw)
            with session.begin_nested():
                job, new = submit_training(session, settings=settings, symbol=symbol, params=params, origin=origin)
            jobs.append(job)
            if new:
                created.append(job)
        except TooCostly:
            raise  # the request's parameters are too costly: one 422 for the request, nothing queued
        except PricecastError as exc:
            errors.append({"ticker": str(raw), "code": exc.code, "message": exc.message})
    return jobs, errors, created


def maybe_retrain(session: Session, *, settings: Settings, symbol: str) -> TrainingJob | None:
    """After new prices: queue a job when the active model is PRICECAST_RETRAIN_AFTER points behind."""
    if not settings.retrain_after:
        return None
    behind = points_behind(session, symbols=[symbol]).get(symbol)
    if behind is None or behind < settings.retrain_after:
        return None
    try:
        with session.begin_nested():
            job, new = submit_training(session, settings=settings, symbol=symbol, origin=Origin.RETRAIN)
    except PricecastError:
        return None
    return job if new else None
