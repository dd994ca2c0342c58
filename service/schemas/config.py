"""The input rules GET /config states: tickers, levels, training parameters, limits, calendars and statuses."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.tables import JobStatus, ModelStatus


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
