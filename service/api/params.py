"""Path and query parameters shared by the routes; their rules come from the schemas' one home."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from service.schemas.fields import MAX_ID, Ticker
from service.tickers import TICKER_RULE

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
PathTicker = Annotated[Ticker, Path(description=TICKER_RULE)]
QueryTicker = Annotated[Ticker | None, Query(description=TICKER_RULE)]
