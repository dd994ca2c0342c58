"""The model registry of a ticker: list versions, read one and its backtest, activate one."""

from __future__ import annotations

from service.registry import (MAX_IMPORT_BYTES, activate_model, export_checkpoint, get_model, import_checkpoint,
                              list_models)
from service.schemas.registry import BacktestRead, ModelListRead, ModelRead
from service.usecases.runtime import Runtime

__all__ = ["MAX_IMPORT_BYTES", "activate", "export_model", "import_model", "read_backtest", "read_model",
           "read_models"]


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


def export_model(rt: Runtime, *, symbol: str, version: int | None) -> tuple[ModelRead, bytes]:
    """A version's checkpoint bytes (the active one by default), checked against its sha256."""
    with rt.reading() as session:
        row, data = export_checkpoint(session, settings=rt.settings, symbol=symbol, version=version)
        return ModelRead.model_validate(row), data


def import_model(rt: Runtime, *, symbol: str, data: bytes, expected_sha256: str | None = None) -> ModelRead:
    """Register a checkpoint file as a new version of a ticker (active when it has none)."""
    with rt.unit_of_work() as session:
        return ModelRead.model_validate(import_checkpoint(session, settings=rt.settings, symbol=symbol, data=data,
                                                          expected_sha256=expected_sha256))
