"""The model registry of a ticker: versions, metrics next to baselines, backtests, activation."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.auth import Read, Write
from service.api.deps import RuntimeDep
from service.api.params import PathId, PathTicker
from service.schemas.errors import ErrorResponse
from service.schemas.registry import BacktestRead, ModelListRead, ModelRead
from service.usecases import registry

router = APIRouter(tags=["models"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 503)}


@router.get("/series/{ticker}/models", response_model=ModelListRead, responses=_E, dependencies=[Read])
def list_models(ticker: PathTicker, rt: RuntimeDep) -> ModelListRead:
    """Every model version of a ticker, newest first."""
    return registry.read_models(rt, symbol=ticker)


@router.get("/series/{ticker}/models/{version}", response_model=ModelRead, responses=_E, dependencies=[Read])
def get_model(ticker: PathTicker, version: PathId, rt: RuntimeDep) -> ModelRead:
    """One version: config, data range, status, and metrics next to the naive baselines."""
    return registry.read_model(rt, symbol=ticker, version=version)


@router.get("/series/{ticker}/models/{version}/backtest", response_model=BacktestRead, responses=_E, dependencies=[Read])
def get_backtest(ticker: PathTicker, version: PathId, rt: RuntimeDep) -> BacktestRead:
    """The per-day backtest over the test days: actual, model, persistence, intervals, P(up)."""
    return registry.read_backtest(rt, symbol=ticker, version=version)


@router.post("/series/{ticker}/models/{version}/activate", response_model=ModelRead, responses=_E, dependencies=[Write])
def activate(ticker: PathTicker, version: PathId, rt: RuntimeDep) -> ModelRead:
    """Make this version the one that answers forecasts (rollback or manual promotion)."""
    return registry.activate(rt, symbol=ticker, version=version)
