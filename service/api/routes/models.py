"""The model registry of a ticker: versions, metrics next to baselines, backtests, activation."""

from __future__ import annotations

from fastapi import APIRouter

from service import registry
from service.api.auth import Read, Write
from service.api.deps import SessionDep
from service.reports import comparison
from service.schemas import PathId, PathTicker, BacktestRead, ErrorResponse, ModelListRead, ModelRead
from service.uploads import normalise_ticker

router = APIRouter(tags=["models"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 503)}


@router.get("/series/{ticker}/models", response_model=ModelListRead, responses=_E, dependencies=[Read])
def list_models(ticker: PathTicker, session: SessionDep) -> ModelListRead:
    """Every model version of a ticker, newest first."""
    return ModelListRead(models=[ModelRead.of(m) for m in registry.list_models(session, symbol=normalise_ticker(ticker))])


@router.get("/series/{ticker}/models/{version}", response_model=ModelRead, responses=_E, dependencies=[Read])
def get_model(ticker: PathTicker, version: PathId, session: SessionDep) -> ModelRead:
    """One version: config, data range, status, and metrics next to the naive baselines."""
    return ModelRead.of(registry.get_model(session, symbol=normalise_ticker(ticker), version=version))


@router.get("/series/{ticker}/models/{version}/backtest", response_model=BacktestRead, responses=_E, dependencies=[Read])
def get_backtest(ticker: PathTicker, version: PathId, session: SessionDep) -> BacktestRead:
    """The per-day backtest over the test days: actual, model, persistence, intervals, P(up)."""
    row = registry.get_model(session, symbol=normalise_ticker(ticker), version=version)
    return BacktestRead(ticker=row.ticker.symbol, version=row.version, price_field=row.price_field,
                        comparison=comparison(row.metrics), points=row.backtest)


@router.post("/series/{ticker}/models/{version}/activate", response_model=ModelRead, responses=_E, dependencies=[Write])
def activate(ticker: PathTicker, version: PathId, session: SessionDep) -> ModelRead:
    """Make this version the one that answers forecasts (rollback or manual promotion)."""
    row = registry.activate_model(session, symbol=normalise_ticker(ticker), version=version)
    session.commit()
    return ModelRead.of(row)
