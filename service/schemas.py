"""HTTP request and response shapes (pydantic only: no FastAPI here, so use cases can return them).

Read shapes validate from domain objects and rows (`from_attributes`): what they declare is what
a client gets, and anything else on the object is filtered out. Dates are YYYY-MM-DD; timestamps
ISO 8601 UTC with Z. Input rules (tickers, levels, training bounds) come from their one home in
the domain; their messages say what is allowed, with an example.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    computed_field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.lstm import BOUNDS
from service.cells import VOLUME_MAX
from service.errors import InvalidInput
from service.forecasting import LEVEL_MAX, LEVEL_MIN, LEVELS_RULE, MAX_LEVELS, check_levels, level_problem
from service.reports import comparison
from service.tables import JobStatus, ModelStatus
from service.tickers import TICKER_EXAMPLE, TICKER_PATTERN, TICKER_RULE, normalise_ticker
from service.training.params import SEED_MAX

MAX_ID = 2**31 - 1
_Date = date  # a field named `date` cannot also use `date` as its type


def _ticker(value: Any) -> str:
    try:
        return normalise_ticker(value)
    except InvalidInput:
        raise PydanticCustomError("ticker", f"must be {TICKER_RULE}") from None


def _levels(value: Any) -> list[int]:
    if isinstance(value, list):  # 80.0 is the JSON integer 80 (booleans are refused below)
        value = [_integral(v) for v in value]
    problem = level_problem(value)
    if problem is not None:
        raise PydanticCustomError("levels", problem)
    return list(check_levels(value))


def _true(value: Any) -> bool:
    if value is not True:
        raise PydanticCustomError("true_flag", "must be true (or left out)")
    return True


# A ticker symbol: validated by the one rule, returned upper-case.
Ticker = Annotated[str, PlainValidator(_ticker), WithJsonSchema(
    {"type": "string", "pattern": TICKER_PATTERN, "description": TICKER_RULE, "examples": [TICKER_EXAMPLE]})]
# Interval levels: returned unique and ascending. Booleans are not numbers.
Levels = Annotated[list[int], PlainValidator(_levels), WithJsonSchema(
    {"type": "array", "minItems": 1, "maxItems": MAX_LEVELS, "description": LEVELS_RULE,
     "items": {"type": "integer", "minimum": LEVEL_MIN, "maximum": LEVEL_MAX}})]

def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON Schema means it: 8 or 8.0 (an `integer` admits both), never 8.5, "8" or true.
Integral = Annotated[int, BeforeValidator(_integral)]


def bounded(low: int, high: int) -> Any:
    """An Integral between low and high, with the bounds in the JSON schema as minimum/maximum."""
    return Annotated[int, Field(ge=low, le=high, strict=True), BeforeValidator(_integral)]


def _param(name: str) -> Any:
    return bounded(*BOUNDS[name])


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

# A flag that selects something: only `true` (not 1, not "true").
TrueFlag = Annotated[bool, PlainValidator(_true), WithJsonSchema({"type": "boolean", "const": True})]

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


def calendar_enum(schema: dict) -> None:
    """The calendar names as a JSON-schema enum, made when the OpenAPI document is (the list imports
    exchange_calendars, about 1 s, which nothing else at import time should pay)."""
    from service.calendars import calendar_names

    schema["enum"] = list(calendar_names())


def frequency_schema(schema: dict) -> None:
    from service.bars import FREQUENCY_PATTERN, FREQUENCY_RULE

    schema.update(pattern=FREQUENCY_PATTERN, description=FREQUENCY_RULE)


# A point in market time: a date for a daily series, else an ISO 8601 timestamp in the calendar's zone.
Moment = date | datetime


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


class HealthRead(BaseModel):
    status: str
    schema_revision: str | None = None
    head_revision: str | None = None


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


# A job's place in the ticker's registry, read through its relationships (response_model filtering).
_TICKER_SYMBOL = AliasPath("ticker", "symbol")


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    ticker: str = Field(validation_alias=_TICKER_SYMBOL)
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


class TickerError(BaseModel):
    ticker: str
    code: str
    message: str


class BulkTrainRead(BaseModel):
    jobs: list[JobRead]
    errors: list[TickerError]


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    ticker: str = Field(validation_alias=_TICKER_SYMBOL)
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

    ticker: str = Field(validation_alias=_TICKER_SYMBOL)
    version: int
    price_field: str
    metrics: dict = Field(exclude=True)
    points: list[dict] = Field(validation_alias="backtest")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def comparison(self) -> dict:
        return comparison(self.metrics)


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


class TickerRuleRead(BaseModel):
    pattern: str = Field(description="the full pattern (ECMAScript and Python agree on it)")
    characters: str = Field(description="the allowed characters, as the body of a regex character class")
    max_length: int
    description: str
    example: str


class LevelsRuleRead(BaseModel):
    min: int
    max: int
    max_count: int
    default: list[int]
    description: str


class ParamRuleRead(BaseModel):
    min: float
    max: float
    default: float | None
    integer: bool


class ConfigRead(BaseModel):
    """The input rules a client can check before sending (the page reads them from here)."""

    ticker: TickerRuleRead
    levels: LevelsRuleRead
    training: dict[str, ParamRuleRead]
    limits: dict[str, int]
    calendars: list[str] = Field(description="the calendars a series may have")
    default_calendar: str
    frequency: str = Field(description="the bar sizes a series may have")
    stale_after: int = Field(description="prices past a model's training data before it is stale")
    job_statuses: list[JobStatus]
    model_statuses: list[ModelStatus]
