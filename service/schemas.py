"""HTTP request and response shapes. Dates are YYYY-MM-DD; timestamps ISO 8601 UTC with Z."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from models.lstm import BOUNDS
from service.reports import comparison

MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
TICKER_PATTERN = r"^[A-Za-z0-9^][A-Za-z0-9.\-^=_]{0,31}$"
TICKER_DOC = "1-32 characters from letters, digits and .-^=_, the first a letter, digit or ^ (stored upper-case)"
PathTicker = Annotated[str, Path(pattern=TICKER_PATTERN, description=TICKER_DOC)]
QueryTicker = Annotated[str | None, Query(pattern=TICKER_PATTERN, description=TICKER_DOC)]
Level = Annotated[int, Field(ge=1, le=99)]

UTCTimestamp = Annotated[
    datetime,
    PlainSerializer(lambda v: v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), return_type=str),
]


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    error: ErrorInfo
    request_id: str


class UploadReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    rows_received: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_deleted: int
    first_date: date | None
    last_date: date | None
    revision: int
    warnings: list[str]


class BulkUploadRead(BaseModel):
    results: list[UploadReportRead]


class SeriesSummaryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    rows: int
    first_date: date | None
    last_date: date | None
    revision: int


class SeriesListRead(BaseModel):
    series: list[SeriesSummaryRead]


class PricePointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: date
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float
    adj_close: float | None = None
    volume: int | None = None


class SeriesRead(BaseModel):
    ticker: str
    points: list[PricePointRead]


class HealthRead(BaseModel):
    status: str
    schema_revision: str | None = None
    head_revision: str | None = None


class TrainRequest(BaseModel):
    """Optional training parameters; anything left out takes the core's measured default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    window: int | None = Field(None, ge=BOUNDS["window"][0], le=BOUNDS["window"][1])
    hidden_size: int | None = Field(None, ge=BOUNDS["hidden_size"][0], le=BOUNDS["hidden_size"][1])
    layers: int | None = Field(None, ge=BOUNDS["layers"][0], le=BOUNDS["layers"][1])
    dropout: float | None = Field(None, ge=BOUNDS["dropout"][0], le=BOUNDS["dropout"][1])
    epochs: int | None = Field(None, ge=BOUNDS["epochs"][0], le=BOUNDS["epochs"][1])
    patience: int | None = Field(None, ge=BOUNDS["patience"][0], le=BOUNDS["patience"][1])
    batch_size: int | None = Field(None, ge=BOUNDS["batch_size"][0], le=BOUNDS["batch_size"][1])
    lr: float | None = Field(None, ge=BOUNDS["lr"][0], le=BOUNDS["lr"][1])
    seed: int | None = Field(None, ge=0, le=2**31 - 1)

    def params(self) -> dict:
        return self.model_dump(exclude_none=True)


class JobRead(BaseModel):
    id: int
    ticker: str
    status: str
    params: dict
    progress: dict
    history: list[dict]
    attempts: int
    cancel_requested: bool
    error: str | None
    message: str | None
    worker_id: str | None
    model_version: int | None
    created_at: UTCTimestamp
    started_at: UTCTimestamp | None
    heartbeat_at: UTCTimestamp | None
    finished_at: UTCTimestamp | None

    @classmethod
    def of(cls, job: Any) -> JobRead:
        return cls(id=job.id, ticker=job.ticker.symbol, status=job.status, params=job.params, progress=job.progress,
                   history=job.history, attempts=job.attempts, cancel_requested=job.cancel_requested,
                   error=job.error, message=job.message, worker_id=job.worker_id,
                   model_version=job.model_version.version if job.model_version is not None else None,
                   created_at=job.created_at, started_at=job.started_at, heartbeat_at=job.heartbeat_at,
                   finished_at=job.finished_at)


class JobListRead(BaseModel):
    jobs: list[JobRead]


class _BulkTrain(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: TrainRequest | None = None


class TrainTickers(_BulkTrain):
    tickers: list[str] = Field(min_length=1, description="a malformed or unknown ticker is an entry in `errors`")


class TrainAll(_BulkTrain):
    all: Literal[True]


class TrainStale(_BulkTrain):
    stale: Literal[True] = Field(description="tickers whose active model is PRICECAST_RETRAIN_AFTER points behind")


BulkTrainRequest = TrainTickers | TrainAll | TrainStale


class TickerError(BaseModel):
    ticker: str
    code: str
    message: str


class BulkTrainRead(BaseModel):
    jobs: list[JobRead]
    errors: list[TickerError]


class ModelRead(BaseModel):
    ticker: str
    version: int
    status: str
    price_field: str
    config: dict
    seed: int
    data_start: date | None
    data_end: date | None
    n_rows: int
    metrics: dict
    comparison: dict
    promotion: str | None
    job_id: int | None
    checkpoint_sha256: str
    trained_at: UTCTimestamp

    @classmethod
    def of(cls, row: Any) -> ModelRead:
        return cls(ticker=row.ticker.symbol, version=row.version, status=row.status, price_field=row.price_field,
                   config=row.config, seed=row.seed, data_start=row.data_start, data_end=row.data_end,
                   n_rows=row.n_rows, metrics=row.metrics, comparison=comparison(row.metrics),
                   promotion=row.promotion, job_id=row.job_id, checkpoint_sha256=row.checkpoint_sha256,
                   trained_at=row.trained_at)


class ModelListRead(BaseModel):
    models: list[ModelRead]


class BacktestRead(BaseModel):
    ticker: str
    version: int
    price_field: str
    comparison: dict
    points: list[dict]


class IntervalRead(BaseModel):
    level: int
    low: float
    high: float


class ForecastModelRead(BaseModel):
    version: int
    trained_at: str
    data_start: date | None
    data_end: date | None
    metrics: dict


class ForecastRead(BaseModel):
    """The next step's price, trend and intervals, with how the model compares with persistence."""

    ticker: str
    as_of: date
    target_date: date
    price_field: str
    last_price: float
    predicted_price: float
    predicted_return: float
    trend: str
    prob_up: float
    intervals: list[IntervalRead]
    no_edge: bool
    stale: bool
    model: ForecastModelRead


class BatchForecastRead(BaseModel):
    forecasts: list[ForecastRead]
    errors: list[TickerError]


class _Forecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version: int | None = Field(None, ge=1, le=MAX_ID, description="use this version instead of the active one")
    levels: list[Level] | None = Field(None, min_length=1, max_length=10,
                                       description="interval levels in percent (default [80, 95])")


class ForecastOne(_Forecast):
    """One ticker: answers with one forecast object."""

    ticker: str = Field(pattern=TICKER_PATTERN, description=TICKER_DOC)
    prices: list[dict[str, Any]] | None = Field(
        None, description='recent history inline, as the upload\'s points: [{"date", "close"}, ...]; '
                          "at least the model's window + 1 points; nothing is stored")


class ForecastMany(_Forecast):
    """Many tickers: answers {"forecasts": [...], "errors": [...]}; one ticker's problem does not fail the rest."""

    tickers: list[str] = Field(min_length=1)


ForecastRequest = ForecastOne | ForecastMany


class AccuracyRead(BaseModel):
    ticker: str
    served: int
    pending: int
    overall: dict
    versions: list[dict]
