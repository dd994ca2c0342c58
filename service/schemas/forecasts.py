"""Forecasts: one or many asked for, a forecast with its intervals and model, and served-forecast accuracy."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from service.schemas.errors import TickerError
from service.schemas.fields import MAX_ID, Levels, Moment, Ticker, UTCTimestamp, bounded
from service.schemas.series import POINT_SCHEMA


class IntervalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    level: int
    low: float
    high: float


class ForecastModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    trained_at: UTCTimestamp
    data_start: Moment | None
    data_end: Moment | None
    metrics: dict


class ForecastRead(BaseModel):
    """The next step's price, trend and intervals, with how the model compares with persistence."""

    model_config = ConfigDict(from_attributes=True)

    ticker: str
    as_of: Moment = Field(description="the last price read: its date (daily) or bar timestamp (intraday)")
    target: Moment = Field(description="when the forecast price is due: the calendar's next session (daily, a date) "
                                       "or next bar (intraday, a timestamp in the calendar's zone)")
    target_date: date = Field(description="the session date of `target`")
    calendar: str
    frequency: str
    price_field: str
    last_price: float
    predicted_price: float
    predicted_return: float
    trend: Literal["up", "down"]
    prob_up: float
    intervals: list[IntervalRead]
    no_edge: bool
    stale: bool = Field(description="PRICECAST_STALE_AFTER or more prices lie past the model's training data")
    model: ForecastModelRead


class BatchForecastRead(BaseModel):
    forecasts: list[ForecastRead]
    errors: list[TickerError]


class ForecastRequest(BaseModel):
    """One ticker (`ticker`: answers one forecast object) or many (`tickers`: answers
    {"forecasts": [...], "errors": [...]}, where one ticker's problem does not fail the rest)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["ticker"], "not": {"required": ["tickers"]}},
        {"required": ["tickers"], "not": {"anyOf": [{"required": ["ticker"]}, {"required": ["prices"]}]}}]})

    ticker: Ticker = None  # type: ignore[assignment]
    tickers: list[str] = Field(None, min_length=1,  # type: ignore[assignment]
                               description="a malformed or unknown ticker is an entry in `errors`")
    prices: list[dict[str, Any]] = Field(  # type: ignore[assignment]
        None, json_schema_extra={"items": POINT_SCHEMA, "minItems": 1},
        description='with `ticker` only: recent history inline, as the upload\'s points: [{"date", "close"}, ...]; '
                    "at least the model's window + 1 points; nothing is stored")
    model_version: bounded(1, MAX_ID) | None = Field(None, description="use this version instead of the active one")
    levels: Levels | None = None

    @model_validator(mode="after")
    def _one_or_many(self) -> ForecastRequest:
        if (self.ticker is None) == (self.tickers is None):
            raise PydanticCustomError("forecast_selection", 'give exactly one of "ticker" (one forecast) or '
                                      '"tickers" (a batch), e.g. {"ticker": "SPX"}')
        if self.prices is not None and self.tickers is not None:
            raise PydanticCustomError("forecast_prices", '"prices" goes with one "ticker", not with "tickers"')
        return self


class AccuracyRead(BaseModel):
    ticker: str
    served: int
    pending: int
    overall: dict
    versions: list[dict]
