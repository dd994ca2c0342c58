"""Price series: list them, read one, change its calendar, delete a ticker with everything that belongs to it."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from service import bars
from service.calendars import timezone_of
from service.registry import delete_checkpoints
from service.schemas.series import (
    PricePointRead,
    SeriesListRead,
    SeriesPatchRead,
    SeriesRead,
    SeriesSummaryRead,
)
from service.series import (SERIES_LIST_DEFAULT, SERIES_LIST_MAX, count_series, delete_series, get_ticker,  # noqa: F401
                            list_prices, list_series, set_calendar)
from service.tables import PRICE_COLUMNS
from service.usecases.runtime import Runtime


def read_series_list(rt: Runtime, *, prefix: str | None = None, after: str | None = None,
                     limit: int | None = None) -> SeriesListRead:
    """Tickers with their row count, time range, calendar and frequency: a page by symbol (all without a limit).

    `total` counts every ticker matching the prefix; `next` is the `after` of the next page, or None.
    """
    with rt.reading() as session:
        rows = list_series(session, prefix=prefix, after=after, limit=None if limit is None else limit + 1)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return SeriesListRead(series=[SeriesSummaryRead.model_validate(s) for s in rows],
                              total=count_series(session, prefix=prefix),
                              next=rows[-1].ticker if more else None)


def read_series(rt: Runtime, *, symbol: str, start: date | None = None, end: date | None = None,
                limit: int | None = None) -> SeriesRead:
    """Prices of one ticker, ascending; `start`/`end` are dates in its calendar's zone; `limit` keeps the latest N."""
    with rt.reading() as session:
        ticker = get_ticker(session, symbol=symbol)
        daily = bars.is_daily(ticker.frequency)
        tz = "UTC" if daily else timezone_of(ticker.calendar)
        lo = None if start is None else bars.local_midnight(start, tz)
        hi = None if end is None else bars.local_midnight(date.fromordinal(end.toordinal() + 1), tz) - 1
        rows = list_prices(session, symbol=symbol, start=lo, end=hi, limit=limit)
        ts = np.fromiter((p.ts for p in rows), dtype=np.int64, count=len(rows))
        days = bars.local_dates(ts, ticker.frequency, tz)
        times = None if daily else bars.labels(ts, ticker.frequency, tz)
        points = []
        for k, p in enumerate(rows):
            row = {c: getattr(p, c) for c in PRICE_COLUMNS}
            row["date"] = bars.ts_day(int(days[k]))
            if times is not None:
                row["time"] = datetime.fromisoformat(times[k])
            points.append(PricePointRead.model_construct(**row) if times is None else PricePointRead(**row))
        return SeriesRead(ticker=symbol, calendar=ticker.calendar, timezone=timezone_of(ticker.calendar),
                          frequency=ticker.frequency, points=points)


def change_calendar(rt: Runtime, *, symbol: str, calendar: str) -> SeriesPatchRead:
    """Set a series' calendar (PATCH /series/{ticker}); answer the series and what the new calendar says of it."""
    with rt.unit_of_work() as session:
        _, warnings = set_calendar(session, symbol=symbol, calendar=calendar)
        summary = next(s for s in list_series(session, prefix=symbol, limit=1) if s.ticker == symbol)
        return SeriesPatchRead(series=SeriesSummaryRead.model_validate(summary), warnings=warnings)


def delete_ticker(rt: Runtime, *, symbol: str) -> None:
    """Remove a ticker and everything that belongs to it: prices, jobs, models, and (after commit) checkpoint files."""
    with rt.unit_of_work() as session:
        delete_checkpoints(session, settings=rt.settings, ticker_id=get_ticker(session, symbol=symbol).id)
        delete_series(session, symbol=symbol)
