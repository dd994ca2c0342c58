"""Store validated uploads in tickers' series (merge or replace) and report what changed. Flushes, never commits."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service import bars, checks, merge
from service.calendars import DEFAULT_CALENDAR, timezone_of, ts_day
from service.db import utcnow
from service.errors import Conflict, InvalidInput
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
