"""Price series: list them, read one, delete a ticker with everything that belongs to it."""

from __future__ import annotations

from datetime import date

from service.registry import delete_checkpoints
from service.schemas import PricePointRead, SeriesListRead, SeriesRead, SeriesSummaryRead
from service.series import delete_series, get_ticker, list_prices, list_series
from service.usecases.runtime import Runtime


def read_series_list(rt: Runtime) -> SeriesListRead:
    """Every ticker with its row count and date range."""
    with rt.reading() as session:
        return SeriesListRead(series=[SeriesSummaryRead.model_validate(s) for s in list_series(session)])


def read_series(rt: Runtime, *, symbol: str, start: date | None = None, end: date | None = None,
                limit: int | None = None) -> SeriesRead:
    """Prices of one ticker, ascending; `limit` keeps the latest N."""
    with rt.reading() as session:
        points = list_prices(session, symbol=symbol, start=start, end=end, limit=limit)
        return SeriesRead(ticker=symbol, points=[PricePointRead.model_validate(p) for p in points])


def delete_ticker(rt: Runtime, *, symbol: str) -> None:
    """Remove a ticker and everything that belongs to it: prices, jobs, models, and (after commit) checkpoint files."""
    with rt.unit_of_work() as session:
        delete_checkpoints(session, settings=rt.settings, ticker_id=get_ticker(session, symbol=symbol).id)
        delete_series(session, symbol=symbol)
