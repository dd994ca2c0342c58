"""Bulk and automatic (re)training: many tickers per request, and retraining when new prices arrive."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import InvalidInput, PricecastError
from service.settings import Settings
from service.tables import ModelVersion, PricePoint, Ticker, TrainingJob
from service.training import PRIORITY_BULK, submit_training
from service.uploads import normalise_ticker


def points_behind(session: Session) -> dict[str, int]:
    """For each ticker with an active model: how many prices lie past its training data."""
    query = (select(Ticker.symbol, func.count(PricePoint.date))
             .join(ModelVersion, (ModelVersion.ticker_id == Ticker.id) & (ModelVersion.status == "active"))
             .outerjoin(PricePoint, (PricePoint.ticker_id == Ticker.id) & (PricePoint.date > ModelVersion.data_end))
             .group_by(Ticker.symbol))
    return dict(session.execute(query).all())


def stale_tickers(session: Session, *, settings: Settings) -> list[str]:
    """Tickers whose active model is behind by PRICECAST_RETRAIN_AFTER points (1 when unset)."""
    threshold = settings.retrain_after or 1
    return sorted(t for t, n in points_behind(session).items() if n >= threshold)


def submit_bulk(session: Session, *, settings: Settings, tickers: list[str] | None = None, all_: bool = False,
                stale: bool = False, params: dict | None = None) -> tuple[list[TrainingJob], list[dict], list[TrainingJob]]:
    """Queue one job per ticker at bulk priority; return (jobs, per-ticker errors, newly created jobs)."""
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
    for raw in dict.fromkeys(tickers):
        try:
            symbol = normalise_ticker(raw)
            with session.begin_nested():
                job, new = submit_training(session, settings=settings, symbol=symbol, params=params,
                                           priority=PRIORITY_BULK)
            jobs.append(job)
            if new:
                created.append(job)
        except PricecastError as exc:
            errors.append({"ticker": str(raw), "code": exc.code, "message": exc.message})
    return jobs, errors, created


def maybe_retrain(session: Session, *, settings: Settings, symbol: str) -> TrainingJob | None:
    """After an upload: queue a job when the active model is PRICECAST_RETRAIN_AFTER points behind."""
    if not settings.retrain_after:
        return None
    behind = points_behind(session).get(symbol)
    if behind is None or behind < settings.retrain_after:
        return None
    try:
        with session.begin_nested():
            job, new = submit_training(session, settings=settings, symbol=symbol, priority=PRIORITY_BULK)
    except PricecastError:
        return None
    return job if new else None
