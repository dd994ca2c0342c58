"""Price series: find tickers, move their revision, list, read, change the calendar of and delete series.

Storing uploads is service/store.py; a ticker's prices as model arrays, service/pricearrays.py.
Functions flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from service import bars, checks
from service.calendars import check_calendar, timezone_of
from service.errors import InvalidInput, NotFound
from service.tables import PricePoint, Ticker


def find_ticker(session: Session, *, symbol: str) -> Ticker | None:
    """Return the ticker row, or None."""
    return session.scalar(select(Ticker).where(Ticker.symbol == symbol))


def get_ticker(session: Session, *, symbol: str) -> Ticker:
    """Return the ticker row or raise NotFound."""
    ticker = find_ticker(session, symbol=symbol)
    if ticker is None:
        raise NotFound(f"ticker {symbol!r} not found; upload prices with POST /series/{symbol}",
                       details={"ticker": symbol})
    return ticker


def bump_revision(session: Session, *, ticker_id: int) -> None:
    """Move a ticker's revision: every cached forecast of it, in any process, stops being served.

    The revision keys the forecast caches, so anything that changes a ticker's answers (its
    prices, a new, activated or broken model version) must call this. (Uploads bump it inside
    their write, service/merge.py, for every ticker whose prices changed.)
    """
    session.execute(update(Ticker).where(Ticker.id == ticker_id).values(revision=Ticker.revision + 1))


@dataclass
class SeriesSummary:
    ticker: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    revision: int
    calendar: str
    frequency: str

    @property
    def timezone(self) -> str:
        return timezone_of(self.calendar)

    def _moment(self, ts: int | None):
        return None if ts is None else bars.moment(ts, self.frequency, self.timezone)

    @property
    def first(self):
        return self._moment(self.first_ts)

    @property
    def last(self):
        return self._moment(self.last_ts)

    @property
    def first_date(self) -> date | None:
        return _day(self.first)

    @property
    def last_date(self) -> date | None:
        return _day(self.last)


def _day(moment: date | datetime | None) -> date | None:
    return moment.date() if isinstance(moment, datetime) else moment


# GET /series pages: the page's list and any client walk 10,000 tickers this way.
SERIES_LIST_DEFAULT, SERIES_LIST_MAX = 500, 1000
PREFIX_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-^=_")  # service.tickers, upper-cased


def _prefix_filter(prefix: str | None):
    if not prefix:
        return None
    prefix = prefix.upper()
    if not set(prefix) <= PREFIX_CHARACTERS:
        raise InvalidInput(f"prefix={prefix!r}: only the characters a ticker may hold (letters, digits and . - ^ = _)",
                           details={"field": "prefix", "value": prefix})
    # `_` is a LIKE wildcard: escape it (and the escape character, which a ticker never holds).
    return Ticker.symbol.like(prefix.replace("_", "\\_") + "%", escape="\\")


def list_series(session: Session, *, prefix: str | None = None, after: str | None = None,
                limit: int | None = None) -> list[SeriesSummary]:
    """Summaries of tickers by symbol: those starting with `prefix`, after the symbol `after`, at most `limit`.

    The page of tickers is chosen first (on the symbol's unique index), then only its prices are counted.
    """
    # Byte order on every backend (a Postgres locale such as en_US ignores punctuation), so pages
    # and the `after` cursor agree with each other and with the page's order.
    key = Ticker.symbol.collate("C") if session.get_bind().dialect.name == "postgresql" else Ticker.symbol
    page = select(Ticker.id)
    where = _prefix_filter(prefix)
    if where is not None:
        page = page.where(where)
    if after:
        page = page.where(key > after.upper())
    page = page.order_by(key)
    if limit is not None:
        page = page.limit(limit)
    query = (
        select(Ticker.symbol, func.count(PricePoint.ts), func.min(PricePoint.ts),
               func.max(PricePoint.ts), Ticker.revision, Ticker.calendar, Ticker.frequency)
        .outerjoin(PricePoint, PricePoint.ticker_id == Ticker.id)
        .where(Ticker.id.in_(page.scalar_subquery()))
        .group_by(Ticker.id)
        .order_by(key)
    )
    return [SeriesSummary(*row) for row in session.execute(query)]


def count_series(session: Session, *, prefix: str | None = None) -> int:
    """How many tickers start with `prefix` (all of them without one)."""
    query = select(func.count()).select_from(Ticker)
    where = _prefix_filter(prefix)
    return session.scalar(query if where is None else query.where(where)) or 0


def set_calendar(session: Session, *, symbol: str, calendar: str) -> tuple[Ticker, list[str]]:
    """Change a ticker's calendar; the answers change (revision), and the warnings the new calendar gives.

    A model trained under the old calendar keeps serving (its intraday volatility profile was
    fit to the old sessions: the warnings say to retrain it).
    """
    ticker = get_ticker(session, symbol=symbol)
    check_calendar(calendar)
    if ticker.calendar == calendar:
        return ticker, []
    ticker.calendar = calendar
    session.flush()
    bump_revision(session, ticker_id=ticker.id)
    session.flush()
    session.refresh(ticker)
    ts = np.fromiter(session.scalars(select(PricePoint.ts).where(PricePoint.ticker_id == ticker.id)
                                     .order_by(PricePoint.ts)), dtype=np.int64)
    warnings: list[str] = []
    if ts.size:
        cal = bars.calendar_for(calendar, ts)
        warnings = checks.session_warnings(cal, ticker.frequency, ts, np.ones(ts.size, dtype=bool))
        if not bars.is_daily(ticker.frequency):
            warnings.append(f"{symbol}'s models were trained with the sessions of its previous calendar; retrain "
                            f"it (POST /series/{symbol}/train) so its volatility profile follows {calendar}")
    return ticker, warnings


def list_prices(session: Session, *, symbol: str, start: int | None = None, end: int | None = None,
                limit: int | None = None) -> list[PricePoint]:
    """Prices of one ticker, ascending; `start`/`end` bound the times (epoch seconds); `limit` keeps the latest N."""
    ticker = get_ticker(session, symbol=symbol)
    query = select(PricePoint).where(PricePoint.ticker_id == ticker.id)
    if start is not None:
        query = query.where(PricePoint.ts >= start)
    if end is not None:
        query = query.where(PricePoint.ts <= end)
    query = query.order_by(PricePoint.ts.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(reversed(session.scalars(query).all()))


def delete_series(session: Session, *, symbol: str) -> None:
    """Remove a ticker and everything that belongs to it."""
    ticker = get_ticker(session, symbol=symbol)
    session.execute(delete(PricePoint).where(PricePoint.ticker_id == ticker.id))
    session.execute(delete(Ticker).where(Ticker.id == ticker.id))
    session.flush()
