"""The model registry of a ticker: list versions, read one and its backtest, activate one."""

from __future__ import annotations

from service.registry import activate_model, get_model, list_models
from service.schemas import BacktestRead, ModelListRead, ModelRead
from service.usecases.runtime import Runtime


def read_models(rt: Runtime, *, symbol: str) -> ModelListRead:
    """Every model version of a ticker, newest first."""
    with rt.reading() as session:
        return ModelListRead(models=[ModelRead.model_validate(m) for m in list_models(session, symbol=symbol)])


def read_model(rt: Runtime, *, symbol: str, version: int) -> ModelRead:
    """One version: config, data range, status, and metrics next to the naive baselines."""
    with rt.reading() as session:
        return ModelRead.model_validate(get_model(session, symbol=symbol, version=version))


def read_backtest(rt: Runtime, *, symbol: str, version: int) -> BacktestRead:
    """The per-day backtest of a version over its test days."""
    with rt.reading() as session:
        return BacktestRead.model_validate(get_model(session, symbol=symbol, version=version))


def activate(rt: Runtime, *, symbol: str, version: int) -> ModelRead:
    """Make a version the one that answers forecasts (rollback or manual promotion); cached answers go."""
    with rt.unit_of_work() as session:
        return ModelRead.model_validate(activate_model(session, symbol=symbol, version=version))
