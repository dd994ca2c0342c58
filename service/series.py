"""Price series: store uploads (merge or replace), list, read and delete. Functions flush, never commit."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.windows import choose_price_field
from service import checks, merge
from service.db import utcnow
from service.errors import NotFound
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
    revision: int = 0
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


def lock_tickers(session: Session, *, symbols: list[str]) -> dict[str, tuple[int, int]]:
    """Get or create ticker rows and hold their write locks, in symbol order; {symbol: (id, revision)}.

    Taking the locks in one order means two bulk uploads never deadlock; holding them until the
    unit of work ends serialises uploads to one ticker, so a merge cannot interleave with another.
    """
    symbols = sorted(set(symbols))
    table = Ticker.__table__
    now = utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert if postgres else sqlite.insert
    out: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(symbols, 500):  # SQLite binds at most 32,766 parameters per statement
        session.execute(insert(table).values([{"symbol": s, "revision": 0, "created_at": now, "updated_at": now}
                                              for s in chunk]).on_conflict_do_nothing(index_elements=["symbol"]))
        query = select(table.c.symbol, table.c.id, table.c.revision).where(table.c.symbol.in_(chunk))
        if postgres:
            # FOR NO KEY UPDATE: does not block the foreign-key checks of price_point inserts.
            query = query.order_by(table.c.symbol).with_for_update(key_share=True)
        else:
            # A no-op UPDATE takes SQLite's write lock (held until commit).
            session.execute(update(table).where(table.c.symbol.in_(chunk)).values(revision=table.c.revision))
        out.update((symbol, (tid, revision)) for symbol, tid, revision in session.execute(query))
    return out


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def store_uploads(session: Session, *, uploads: dict[str, ParsedUpload], mode: Mode = "merge") -> list[UploadReport]:
    """Merge (or replace) validated uploads of one or many tickers; one report per ticker, in symbol order."""
    symbols = sorted(uploads)
    if not symbols:
        return []
    session.flush()
    tickers = lock_tickers(session, symbols=symbols)
    now = utcnow()
    counts = merge.write(session, uploads=[(tickers[s][0], uploads[s]) for s in symbols], mode=mode, now=now)
    needed = _rows_needed_to_train()
    reports = []
    for symbol in symbols:
        upload, (ticker_id, revision_before) = uploads[symbol], tickers[symbol]
        c = counts[ticker_id]
        report = UploadReport(
            ticker=symbol, rows_received=upload.rows_received, rows_inserted=c.inserted, rows_updated=c.updated,
            rows_unchanged=len(upload.dates) - c.inserted - c.updated, rows_deleted=c.deleted,
            revision=revision_before if c.revision is None else c.revision, warnings=list(upload.warnings),
            ticker_id=ticker_id)
        if upload.dates:
            report.first_date, report.last_date = upload.dates[0], upload.dates[-1]
        report.warnings += _stored_series_warnings(session, ticker_id=ticker_id, upload=upload, mode=mode,
                                                   existed=revision_before > 0, needed=needed)
        reports.append(report)
    _expire_tickers(session, {tickers[s][0] for s in symbols})
    return reports


def store_prices(session: Session, *, symbol: str, upload: ParsedUpload, mode: Mode = "merge") -> UploadReport:
    """Merge (or replace) a validated upload into a ticker's series and report what changed."""
    return store_uploads(session, uploads={symbol: upload}, mode=mode)[0]


def _stored_series_warnings(session: Session, *, ticker_id: int, upload: ParsedUpload, mode: Mode, existed: bool,
                            needed: int) -> list[str]:
    """Gaps and non-trading days as the stored series now has them around the upload, and a too-short series."""
    if not upload.dates:
        return []
    first, last = upload.dates[0], upload.dates[-1]
    pp = PricePoint.__table__.c
    mine = pp.ticker_id == ticker_id
    rows = select(pp.date).where(mine).limit(needed).subquery()
    before = after = None
    if mode == "merge" and existed:
        before, after, stored = session.execute(select(
            select(func.max(pp.date)).where(mine, pp.date < first).scalar_subquery(),
            select(func.min(pp.date)).where(mine, pp.date > last).scalar_subquery(),
            select(func.count()).select_from(rows).scalar_subquery(),
        )).one()
    else:
        stored = session.execute(select(func.count()).select_from(rows)).scalar_one()
    days = upload.dates
    inner = checks.gaps(days)
    if inner and existed and mode == "merge":
        # Stored rows may fill the gaps inside the upload: look at the merged series there.
        days = list(session.scalars(select(pp.date).where(mine, pp.date.between(first, last)).order_by(pp.date)))
        new = set(upload.dates)
        inner = [(a, b) for a, b in checks.gaps(days) if a in new or b in new]
    found = ([(before, first)] if before is not None and (first - before).days > checks.GAP_DAYS else []) + inner \
        + ([(last, after)] if after is not None and (after - last).days > checks.GAP_DAYS else [])
    out = checks.capped([checks.gap_warning(a, b) for a, b in found], "gaps")
    out += checks.calendar_warnings(upload.dates)
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
    first_date: date | None
    last_date: date | None
    revision: int


def list_series(session: Session) -> list[SeriesSummary]:
    """Summaries of every ticker, by symbol."""
    query = (
        select(Ticker.symbol, func.count(PricePoint.date), func.min(PricePoint.date),
               func.max(PricePoint.date), Ticker.revision)
        .outerjoin(PricePoint, PricePoint.ticker_id == Ticker.id)
        .group_by(Ticker.id)
        .order_by(Ticker.symbol)
    )
    return [SeriesSummary(*row) for row in session.execute(query)]


def list_prices(session: Session, *, symbol: str, start: date | None = None, end: date | None = None,
                limit: int | None = None) -> list[PricePoint]:
    """Prices of one ticker, ascending; `limit` keeps the latest N."""
    ticker = get_ticker(session, symbol=symbol)
    query = select(PricePoint).where(PricePoint.ticker_id == ticker.id)
    if start is not None:
        query = query.where(PricePoint.date >= start)
    if end is not None:
        query = query.where(PricePoint.date <= end)
    query = query.order_by(PricePoint.date.desc())
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
    """One ticker's modelled prices: ascending ISO dates and the chosen price field."""

    dates: list[str]
    prices: np.ndarray
    price_field: str


def load_price_array(session: Session, *, ticker_id: int, price_field: str | None = None,
                     limit: int | None = None) -> PriceArray:
    """Read a ticker's prices; choose adj_close when every row has it, else close (unless given)."""
    query = (select(PricePoint.date, PricePoint.close, PricePoint.adj_close)
             .where(PricePoint.ticker_id == ticker_id).order_by(PricePoint.date.desc()))
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()[::-1]
    close = np.array([r[1] for r in rows], dtype=np.float64)
    adj = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    field = price_field or choose_price_field({"close": close, "adj_close": adj})
    prices = adj if field == "adj_close" else close
    return PriceArray([r[0].isoformat() for r in rows], prices, field)
