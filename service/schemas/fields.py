"""Field types the shapes share: tickers, levels, integers, flags, ids, timestamps and moments.

Input rules come from their one home in the domain; their messages say what is allowed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AliasPath, BeforeValidator, Field, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from service.errors import InvalidInput
from service.forecasting.levels import LEVEL_MAX, LEVEL_MIN, LEVELS_RULE, MAX_LEVELS, check_levels, level_problem
from service.tickers import TICKER_EXAMPLE, TICKER_PATTERN, TICKER_RULE, normalise_ticker

MAX_ID = 2**31 - 1


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


# A flag that selects something: only `true` (not 1, not "true").
TrueFlag = Annotated[bool, PlainValidator(_true), WithJsonSchema({"type": "boolean", "const": True})]

UTCTimestamp = Annotated[
    datetime,
    PlainSerializer(lambda v: v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), return_type=str),
]

# A point in market time: a date for a daily series, else an ISO 8601 timestamp in the calendar's zone.
Moment = date | datetime

# A job's place in the ticker's registry, read through its relationships (response_model filtering).
TICKER_SYMBOL = AliasPath("ticker", "symbol")
