"""Price series: store uploads (merge or replace), list, read and delete. Functions flush, never commit."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.windows import choose_price_field
from service import bars, checks, merge
from service.calendars import DEFAULT_CALENDAR, check_calendar, timezone_of, ts_day
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.tables import PricePoint, Ticker
from service.uploads import ParsedUpload

Mode = Literal["merge", "replace"]


@dataclass
class UploadReport:
    ticker: str
    rows_received: int
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_deleted: int = 0
    first_date: date | None = None
    last_date: date | None = None
    first: date | datetime | None = None
    last: date | datetime | None = None
    revision: int = 0
    calendar: str = DEFAULT_CALENDAR
    timezone: str = "UTC"
    frequency: str = bars.DAILY
    frequency_source: str = "inferred"
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ticker_id: int = 0


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


def lock_tickers(session: Session, *, symbols: list[str],
                 calendar: str = DEFAULT_CALENDAR) -> dict[str, tuple[int, int, str, str]]:
    """Get or create ticker rows and hold their write locks, in symbol order; {symbol: (id, revision, calendar, frequency)}.

    A new ticker gets `calendar`.

    Taking the locks in one order means two bulk uploads never deadlock; holding them until the
    unit of work ends serialises uploads to one ticker, so a merge cannot interleave with another.
    """
    symbols = sorted(set(symbols))
    table = Ticker.__table__
    now = utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert if postgres else sqlite.insert
    out: dict[str, tuple[int, int, str, str]] = {}
    for chunk in _chunks(symbols, 500):  # SQLite binds at most 32,766 parameters per statement
        session.execute(insert(table).values([{"symbol": s, "revision": 0, "created_at": now, "updated_at": now,
                                               "calendar": calendar, "frequency": bars.DAILY}
                                              for s in chunk]).on_conflict_do_nothing(index_elements=["symbol"]))
        query = select(table.c.symbol, table.c.id, table.c.revision, table.c.calendar,
                       table.c.frequency).where(table.c.symbol.in_(chunk))
        if postgres:
            # FOR NO KEY UPDATE: does not block the foreign-key checks of price_point inserts.
            query = query.order_by(table.c.symbol).with_for_update(key_share=True)
        else:
            # A no-op UPDATE takes SQLite's write lock (held until commit).
            session.execute(update(table).where(table.c.symbol.in_(chunk)).values(revision=table.c.revision))
        out.update((symbol, (tid, revision, cal, freq)) for symbol, tid, revision, cal, freq in session.execute(query))
    return out


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def store_uploads(session: Session, *, uploads: dict[str, ParsedUpload], mode: Mode = "merge",
                  calendar: str | None = None, frequency: str | None = None,
                  default_calendar: str = DEFAULT_CALENDAR) -> list[UploadReport]:
    """Merge (or replace) validated uploads of one or many tickers; one report per ticker, in symbol order.

    A new ticker gets `calendar` (else `default_calendar`); an existing one keeps its own (a
    different `calendar` is refused: PATCH /series/{ticker} changes it). Each upload's times are
    resolved against its ticker's calendar and frequency (service/bars.py) before anything is
    written; the caller's unit of work rolls everything back on any error.
    """
    symbols = sorted(uploads)
    if not symbols:
        return []
    session.flush()
    tickers = lock_tickers(session, symbols=symbols, calendar=calendar or default_calendar)
    resolutions = {}
    for symbol in symbols:
        _, revision, cal, stored = tickers[symbol]
        existed = revision > 0
        if existed and calendar is not None and calendar != cal:
            raise Conflict(f"calendar={calendar}: {symbol} already has calendar {cal}; change it with "
                           f"PATCH /series/{symbol}", details={"field": "calendar", "value": calendar,
                                                                "ticker": symbol, "calendar": cal})
        stored_frequency = stored if existed and mode == "merge" else None  # a replace may change the bar size
        try:
            resolutions[symbol] = bars.resolve(uploads[symbol], calendar=cal, stored=stored_frequency, given=frequency)
        except InvalidInput as exc:
            if len(symbols) > 1:
                exc.message = f"{symbol}: {exc.message}"
            raise
        if resolutions[symbol].frequency != stored or not existed:
            _set_frequency(session, ticker_id=tickers[symbol][0], frequency=resolutions[symbol].frequency)
    now = utcnow()
    counts = merge.write(session, uploads=[(tickers[s][0], uploads[s]) for s in symbols], mode=mode, now=now)
    needed = _rows_needed_to_train()
    reports = []
    for symbol in symbols:
        upload, (ticker_id, revision_before, cal, _) = uploads[symbol], tickers[symbol]
        resolution = resolutions[symbol]
        c = counts[ticker_id]
        tz = timezone_of(cal)
        report = UploadReport(
            ticker=symbol, rows_received=upload.rows_received, rows_inserted=c.inserted, rows_updated=c.updated,
            rows_unchanged=len(upload.ts) - c.inserted - c.updated, rows_deleted=c.deleted,
            revision=revision_before if c.revision is None else c.revision, warnings=list(upload.warnings),
            ticker_id=ticker_id, calendar=cal, timezone=tz, frequency=resolution.frequency,
            frequency_source=resolution.source, notes=resolution.notes)
        if len(upload.ts):
            ends = np.array([upload.ts[0], upload.ts[-1]])
            days = bars.local_dates(ends, resolution.frequency, tz)
            report.first_date, report.last_date = ts_day(int(days[0])), ts_day(int(days[1]))
            report.first = bars.moment(int(ends[0]), resolution.frequency, tz)
            report.last = bars.moment(int(ends[1]), resolution.frequency, tz)
        report.warnings += stored_series_warnings(session, ticker_id=ticker_id, upload=upload, mode=mode,
                                                  existed=revision_before > 0, needed=needed, calendar=cal)
        reports.append(report)
    _expire_tickers(session, {tickers[s][0] for s in symbols})
    return reports


def _set_frequency(session: Session, *, ticker_id: int, frequency: str) -> None:
    session.execute(update(Ticker).where(Ticker.id == ticker_id).values(frequency=frequency))


def store_prices(session: Session, *, symbol: str, upload: ParsedUpload, mode: Mode = "merge",
                 calendar: str | None = None, frequency: str | None = None) -> UploadReport:
    """Merge (or replace) a validated upload into a ticker's series and report what changed."""
    return store_uploads(session, uploads={symbol: upload}, mode=mode, calendar=calendar, frequency=frequency)[0]


def stored_series_warnings(session: Session, *, ticker_id: int, upload: ParsedUpload, mode: Mode, existed: bool,
                           needed: int, calendar: str) -> list[str]:
    """Missing sessions or bars and rows off the calendar, as the stored series now has them around the upload;
    and a too-short series. The one place the upload path judges a series against its calendar."""
    if not len(upload.ts):
        return []
    first, last = int(upload.ts[0]), int(upload.ts[-1])
    pp = PricePoint.__table__.c
    mine = pp.ticker_id == ticker_id
    rows = select(pp.ts).where(mine).limit(needed).subquery()
    before = after = None
    if mode == "merge" and existed:
        before, after, stored = session.execute(select(
            select(func.max(pp.ts)).where(mine, pp.ts < first).scalar_subquery(),
            select(func.min(pp.ts)).where(mine, pp.ts > last).scalar_subquery(),
            select(func.count()).select_from(rows).scalar_subquery(),
        )).one()
    else:
        stored = session.execute(select(func.count()).select_from(rows)).scalar_one()
    ts = upload.ts
    if existed and mode == "merge":
        # Stored rows may fill the gaps inside the upload: look at the merged series there.
        lo = first if before is None else before
        hi = last if after is None else after
        ts = np.fromiter(session.scalars(select(pp.ts).where(mine, pp.ts.between(lo, hi)).order_by(pp.ts)),
                         dtype=np.int64)
    new = np.isin(ts, upload.ts, assume_unique=True)
    cal = bars.calendar_for(calendar, ts)
    out = checks.session_warnings(cal, upload.frequency or bars.DAILY, ts, new)
    out += checks.short_series_warning(stored, needed)
    return out


@functools.cache
def _rows_needed_to_train() -> int:
    """Fewest prices the core trains on with default settings (models/ imported only when first needed)."""
    from models.lstm import LSTMConfig
    from models.train import min_rows

    return min_rows(LSTMConfig())


def _expire_tickers(session: Session, ids: set[int]) -> None:
    """Ticker rows were changed with Core statements: reload any the session holds."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Ticker) and obj.id in ids:
            session.expire(obj)


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


@dataclass
class PriceArray:
    """One ticker's modelled prices: their times, labels, the chosen price field, and the bar clock.

    `slots` (intraday only; None for daily) is each bar's category for the models' volatility
    profile: its bar of the session, or `n_slots - 1` after a market closure (service/bars.py).
    """

    dates: list[str]
    prices: np.ndarray
    price_field: str
    ts: np.ndarray | None = None
    calendar: str = DEFAULT_CALENDAR
    frequency: str = bars.DAILY
    slots: np.ndarray | None = None
    n_slots: int = 1


def load_price_array(session: Session, *, ticker_id: int, price_field: str | None = None,
                     limit: int | None = None) -> PriceArray:
    """Read a ticker's prices; choose adj_close when every row has it, else close (unless given)."""
    query = (select(PricePoint.ts, PricePoint.close, PricePoint.adj_close)
             .where(PricePoint.ticker_id == ticker_id).order_by(PricePoint.ts.desc()))
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()[::-1]
    calendar, frequency = session.execute(select(Ticker.calendar, Ticker.frequency)
                                          .where(Ticker.id == ticker_id)).one()
    ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    close = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    adj = np.fromiter((np.nan if r[2] is None else r[2] for r in rows), dtype=np.float64, count=len(rows))
    field = price_field or choose_price_field({"close": close, "adj_close": adj})
    prices = adj if field == "adj_close" else close
    tz = "UTC" if bars.is_daily(frequency) else timezone_of(calendar)
    out = PriceArray(bars.labels(ts, frequency, tz), prices, field, ts, calendar, frequency)
    if not bars.is_daily(frequency) and ts.size:
        out.slots, out.n_slots = bars.slots(bars.calendar_for(calendar, ts), ts, bars.bar_seconds(frequency))
    return out
