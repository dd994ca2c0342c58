"""Training jobs: the parameters a job trains with, one or many jobs asked for, and jobs as read."""

from __future__ import annotations

from typing import Any

from pydantic import AliasPath, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from models.lstm import BOUNDS
from service.schemas.errors import TickerError
from service.schemas.fields import TICKER_SYMBOL, TrueFlag, UTCTimestamp, bounded
from service.tables import JobStatus
from service.training.params import SEED_MAX


def _param(name: str) -> Any:
    return bounded(*BOUNDS[name])


class TrainRequest(BaseModel):
    """Optional training parameters; anything left out takes the core's measured default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    window: _param("window") | None = None
    hidden_size: _param("hidden_size") | None = None
    layers: _param("layers") | None = None
    dropout: float | None = Field(None, ge=BOUNDS["dropout"][0], le=BOUNDS["dropout"][1])
    epochs: _param("epochs") | None = None
    patience: _param("patience") | None = None
    batch_size: _param("batch_size") | None = None
    lr: float | None = Field(None, ge=BOUNDS["lr"][0], le=BOUNDS["lr"][1])
    seed: bounded(0, SEED_MAX) | None = None

    def params(self) -> dict:
        return self.model_dump(exclude_none=True)


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    ticker: str = Field(validation_alias=TICKER_SYMBOL)
    status: JobStatus
    params: dict
    progress: dict
    history: list[dict]
    attempts: int
    cancel_requested: bool
    error: str | None
    message: str | None
    worker_id: str | None
    model_version: int | None = Field(None, validation_alias=AliasPath("model_version", "version"))
    created_at: UTCTimestamp
    started_at: UTCTimestamp | None
    heartbeat_at: UTCTimestamp | None
    finished_at: UTCTimestamp | None


class JobListRead(BaseModel):
    jobs: list[JobRead]


class BulkTrainRequest(BaseModel):
    """Exactly one of `tickers`, `all` or `stale`, and optional training parameters for every job."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["tickers"]}, {"required": ["all"]}, {"required": ["stale"]}]})

    tickers: list[str] = Field(None, min_length=1,  # type: ignore[assignment]
                               description="a malformed or unknown ticker is an entry in `errors`")
    all: TrueFlag = Field(None, description="every stored ticker")  # type: ignore[assignment]
    stale: TrueFlag = Field(None, description=(  # type: ignore[assignment]
        "tickers whose active model is stale: PRICECAST_STALE_AFTER or more prices past its training data "
        "(the same `stale` as forecasts carry)"))
    params: TrainRequest | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> BulkTrainRequest:
        given = [name for name in ("tickers", "all", "stale") if getattr(self, name) is not None]
        if len(given) != 1:
            raise PydanticCustomError("train_selection", 'give exactly one of {"tickers": [...]}, {"all": true} or '
                                      '{"stale": true}' + (f"; got {' and '.join(given)}" if given else ""))
        return self


class BulkTrainRead(BaseModel):
    jobs: list[JobRead]
    errors: list[TickerError]
