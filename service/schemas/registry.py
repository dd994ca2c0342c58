"""Model versions: one version as read, the list of a ticker's versions, and a version's backtest."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field

from service.reports import comparison
from service.schemas.fields import TICKER_SYMBOL, Moment, UTCTimestamp
from service.tables import ModelStatus


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    ticker: str = Field(validation_alias=TICKER_SYMBOL)
    version: int
    status: ModelStatus
    price_field: str
    config: dict
    seed: int
    data_start: Moment | None
    data_end: Moment | None
    n_rows: int
    metrics: dict
    promotion: str | None
    job_id: int | None
    checkpoint_sha256: str
    trained_at: UTCTimestamp

    @computed_field  # type: ignore[prop-decorator]
    @property
    def comparison(self) -> dict:
        """The metrics nested as model / persistence / drift / always_up, with the verdict."""
        return comparison(self.metrics)


class ModelListRead(BaseModel):
    models: list[ModelRead]


class BacktestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    ticker: str = Field(validation_alias=TICKER_SYMBOL)
    version: int
    price_field: str
    metrics: dict = Field(exclude=True)
    points: list[dict] = Field(validation_alias="backtest")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def comparison(self) -> dict:
        return comparison(self.metrics)
