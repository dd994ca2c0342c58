"""Price series: store uploads (merge or replace), list, read and delete. Functions flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from datetime import date
from typing import Literal

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.windows import choose_price_field
from service.db import utcnow
from service.errors import NotFound
from service.tables import PRICE_COLUMNS, PricePoint, Ticker
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
    prices, a new, activated or broken model version) must call this.
    """
    session.execute(update(Ticker).where(Ticker.id == ticker_id).values(revision=Ticker.revision + 1))


def _ensure_ticker(session: Session, symbol: str) -> Ticker:
    """Get or create the ticker row and hold its write lock until the unit of work ends."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    session.execute(
        insert(Ticker).values(symbol=symbol, revision=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["symbol"])
    )
    # A no-op UPDATE takes the row lock (Postgres) / write lock (SQLite): uploads to one
    # ticker are serialised, so the read-compare-write below cannot interleave.
    session.execute(update(Ticker).where(Ticker.symbol == symbol).values(revision=Ticker.revision))
    return session.scalars(
        select(Ticker).where(Ticker.symbol == symbol).execution_options(populate_existing=True)
    ).one()


def store_prices(session: Session, *, symbol: str, upload: ParsedUpload, mode: Mode = "merge") -> UploadReport:
    """Merge (or replace) a validated upload into a ticker's series and report what changed."""
    ticker = _ensure_ticker(session, symbol)
    present = tuple(upload.columns)
    report = UploadReport(ticker=symbol, rows_received=upload.rows_received, warnings=list(upload.warnings),
                          ticker_id=ticker.id)
    query = select(PricePoint.date, *(getattr(PricePoint, c) for c in PRICE_COLUMNS)).where(
        PricePoint.ticker_id == ticker.id
    )
    if mode == "merge" and upload.dates:
        query = query.where(PricePoint.date.between(upload.dates[0], upload.dates[-1]))
    stored = {row[0]: row[1:] for row in session.execute(query)}
    # In replace mode every column is written: what the upload lacks becomes null.
    written = present if mode == "merge" else PRICE_COLUMNS
    values = [upload.columns.get(c) or [None] * len(upload.dates) for c in written]
    positions = [PRICE_COLUMNS.index(c) for c in written]
    inserts: list[int] = []
    updates: list[int] = []
    if not stored:
        inserts = list(range(len(upload.dates)))
    else:
        for i, day in enumerate(upload.dates):
            old = stored.pop(day, None)
            if old is None:
                inserts.append(i)
            elif any(old[p] != col[i] for p, col in zip(positions, values, strict=True)):
                updates.append(i)
            else:
                report.rows_unchanged += 1
    days = list(map(_date_param(session), upload.dates))
    if inserts:
        names = ("ticker_id", "date", *written)
        sql = f"INSERT INTO price_point ({', '.join(names)}) VALUES ({', '.join(_marks(session, len(names)))})"
        rows = list(zip(repeat(ticker.id), days, *values))
        _executemany(session, sql, rows if len(inserts) == len(rows) else [rows[i] for i in inserts])
    if updates:
        marks = _marks(session, len(written) + 2)
        sets = ", ".join(f"{c} = {m}" for c, m in zip(written, marks, strict=False))
        sql = f"UPDATE price_point SET {sets} WHERE ticker_id = {marks[-2]} AND date = {marks[-1]}"
        rows = list(zip(*values, repeat(ticker.id), days))
        _executemany(session, sql, [rows[i] for i in updates])
    if mode == "replace" and stored:
        session.execute(delete(PricePoint).where(PricePoint.ticker_id == ticker.id,
                                                 PricePoint.date.in_(list(stored))))
        report.rows_deleted = len(stored)
    report.rows_inserted, report.rows_updated = len(inserts), len(updates)
    if inserts or updates or report.rows_deleted:
        ticker.revision += 1
        ticker.updated_at = utcnow()
    session.flush()
    report.revision = ticker.revision
    if upload.dates:
        report.first_date, report.last_date = upload.dates[0], upload.dates[-1]
    return report


# Bulk writes go straight to the driver's executemany: SQLAlchemy's per-row parameter
# processing cost more than the database itself for 10,000-row uploads (bench/ingest.py).
def _marks(session: Session, n: int) -> list[str]:
    mark = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    return [mark] * n


def _date_param(session: Session):
    if session.get_bind().dialect.name == "sqlite":
        return date.isoformat  # the text form SQLAlchemy's SQLite Date type stores
    return lambda d: d


def _executemany(session: Session, sql: str, rows: list[tuple]) -> None:
    session.flush()
    session.connection().exec_driver_sql(sql, rows)


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


def store_uploads(session: Session, *, uploads: dict[str, ParsedUpload], mode: Mode = "merge") -> list[UploadReport]:
    """Store validated uploads of one or many tickers (all or nothing); reports in symbol order.

    Tickers are written in symbol order, so concurrent bulk uploads take their locks in one order.
    """
    return [store_prices(session, symbol=symbol, upload=uploads[symbol], mode=mode) for symbol in sorted(uploads)]
