"""HTTP request and response shapes. Dates are YYYY-MM-DD; timestamps ISO 8601 UTC with Z."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer

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
