"""Error bodies: the one shape of every 4xx/5xx answer, and one ticker's problem inside a batch answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    error: ErrorInfo
    request_id: str


class TickerError(BaseModel):
    ticker: str
    code: str
    message: str
