"""Price series: the upload bodies (CSV and JSON points), upload reports, listings, prices and calendar changes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.cells import VOLUME_MAX
from service.schemas.fields import Moment

_Date = date  # a field named `date` cannot also use `date` as its type

# Exactly the dates the service accepts: 1700-01-01 .. 2199-12-31, real days only (02-29 in leap years).
_YEAR, _LEAP = r"(?:1[7-9][0-9]{2}|2[01][0-9]{2})", r"(?:(?:1[7-9]|2[01])(?:0[48]|[2468][048]|[13579][26])|2000)"
_MONTH_DAY = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
DATE_PATTERN = rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)$"
DATE_SCHEMA = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
_PRICE = {"type": "number", "exclusiveMinimum": 0}
# The shape of a CSV body, for the OpenAPI document: a header with date and close, then rows. The
# server reads much more (any column order, the other price columns, ; or tab, quotes, intraday
# times: README "Uploads"), and still refuses what no pattern can say (02-30, a date given twice
# with different values); the pattern is what every accepted file of the simplest kind looks like.
_CSV_DATE = DATE_PATTERN.strip("^$")
_CSV_PRICE = r"[1-9][0-9]{0,6}(\.[0-9]{1,6})?"
CSV_SCHEMA = {"type": "string", "minLength": 1, "pattern": rf"^date,close\r?\n({_CSV_DATE},{_CSV_PRICE}\r?\n)+$",
              "description": "CSV: a header naming date and close (open, high, low, adj_close, volume optional), "
                             "one row per date"}
LONG_CSV_SCHEMA = {"type": "string", "minLength": 1,
                   "pattern": rf"^ticker,date,close\r?\n([A-Z][A-Z0-9]{{0,7}},{_CSV_DATE},{_CSV_PRICE}\r?\n)+$",
                   "description": "long-format CSV: a header naming ticker, date and close, "
                                  "one row per ticker and date"}

# One price point of a JSON upload or of inline forecast prices (service/uploads.py parse_points).
POINT_SCHEMA = {"type": "object", "required": ["date", "close"], "properties": {
    "date": DATE_SCHEMA, "close": _PRICE,
    **{c: {"anyOf": [_PRICE, {"type": "null"}]} for c in ("open", "high", "low", "adj_close")},
    "volume": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": VOLUME_MAX}, {"type": "null"}]}}}


def calendar_enum(schema: dict) -> None:
    """The calendar names as a JSON-schema enum, made when the OpenAPI document is (the list imports
    exchange_calendars, about 1 s, which nothing else at import time should pay)."""
    from service.calendars import calendar_names

    schema["enum"] = list(calendar_names())


def frequency_schema(schema: dict) -> None:
    from service.bars import FREQUENCY_PATTERN, FREQUENCY_RULE

    schema.update(pattern=FREQUENCY_PATTERN, description=FREQUENCY_RULE)


class UploadReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    rows_received: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_deleted: int
    first_date: date | None = Field(description="the session date of the first row")
    last_date: date | None
    first: Moment | None = Field(None, description="the first row: its date (daily) or timestamp (intraday)")
    last: Moment | None = None
    revision: int
    calendar: str = Field(description="the series' calendar (an exchange, 24/7 or weekdays)")
    timezone: str = Field(description="the calendar's zone: times are shown in it, and naive timestamps read in it")
    frequency: str = Field(description="the series' bar size: 1d, or intraday such as 5m or 1h")
    frequency_source: Literal["inferred", "given", "stored"] = Field(
        description="inferred from the timestamps, given as ?frequency=, or the series' own")
    notes: list[str] = Field(default_factory=list, description="how the upload was read (e.g. naive timestamps)")
    warnings: list[str]


class BulkUploadRead(BaseModel):
    results: list[UploadReportRead]


class SeriesSummaryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    rows: int
    first_date: date | None
    last_date: date | None
    first: Moment | None = None
    last: Moment | None = None
    revision: int
    calendar: str
    timezone: str
    frequency: str


class SeriesListRead(BaseModel):
    series: list[SeriesSummaryRead]
    total: int = Field(description="tickers matching the prefix, on every page")
    next: str | None = Field(None, description="pass as ?after= for the next page; null on the last page")


class PricePointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: _Date = Field(description="the session date (intraday: the bar's date in the calendar's zone)")
    time: datetime | None = Field(None, description="intraday bars: when the bar opens, in the calendar's zone "
                                                    "(absent for daily prices)", exclude_if=lambda v: v is None)
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float
    adj_close: float | None = None
    volume: int | None = None


class SeriesRead(BaseModel):
    ticker: str
    calendar: str
    timezone: str
    frequency: str
    points: list[PricePointRead]


class SeriesPatch(BaseModel):
    """What can change on a series after upload."""

    model_config = ConfigDict(extra="forbid", strict=True)

    calendar: str = Field(description="an exchange code (e.g. XNYS, XLON, XTKS), 24/7 or weekdays; "
                                      "GET /config lists them", json_schema_extra=lambda schema: calendar_enum(schema))


class SeriesPatchRead(BaseModel):
    series: SeriesSummaryRead
    warnings: list[str]
