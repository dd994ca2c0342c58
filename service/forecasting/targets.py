"""Forecast targets: each ticker's model version to forecast with, and the latest prices it reads."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session, aliased

from models.predict import history_for
from service import bars
from service.calendars import timezone_of
from service.errors import Conflict, NotFound, PricecastError, Unavailable
from service.tables import ModelStatus, ModelVersion, PricePoint, Ticker


@dataclass(frozen=True)
class Target:
    symbol: str
    ticker_id: int
    revision: int
    model_id: int
    version: int
    checkpoint_path: str
    sha256: str
    price_field: str
    trained_at: Any
    data_start: Any
    data_end: Any
    metrics: dict
    window: int
    history: int  # prices a forecast reads (Predictor.history): window + 1 at least
    calendar: str
    frequency: str


def find_targets(session: Session, symbols: list[str], version: int | None) -> dict[str, Target | PricecastError]:
    pick = ModelVersion.status == ModelStatus.ACTIVE if version is None else ModelVersion.version == version
    rows = session.execute(
        select(Ticker.symbol, Ticker.id, Ticker.revision, ModelVersion.id, ModelVersion.version, ModelVersion.status,
               ModelVersion.checkpoint_path, ModelVersion.checkpoint_sha256, ModelVersion.price_field,
               ModelVersion.trained_at, ModelVersion.data_start_ts, ModelVersion.data_end_ts, ModelVersion.metrics,
               ModelVersion.config, Ticker.calendar, Ticker.frequency)
        .select_from(Ticker).outerjoin(ModelVersion, and_(ModelVersion.ticker_id == Ticker.id, pick))
        .where(Ticker.symbol.in_(symbols))).all()
    found: dict[str, Target | PricecastError] = {}
    inactive = [tid for (_, tid, _, mid, *_rest) in rows if mid is None and version is None]
    broken = dict(session.execute(select(ModelVersion.ticker_id, func.max(ModelVersion.version))
                                  .where(ModelVersion.ticker_id.in_(inactive), ModelVersion.status == ModelStatus.BROKEN)
                                  .group_by(ModelVersion.ticker_id)).all()) if inactive else {}
    for (symbol, tid, revision, mid, ver, status, path, sha, field, trained, start, end, metrics, config, calendar,
         frequency) in rows:
        if mid is None and version is None and tid in broken:
            found[symbol] = Conflict(f"{symbol} has no active model: version {broken[tid]} was marked broken (its "
                                     f"checkpoint failed its hash check); activate another version or retrain with "
                                     f"POST /series/{symbol}/train", details={"ticker": symbol, "broken": broken[tid]})
        elif mid is None and version is None:
            found[symbol] = Conflict(f"{symbol} has no active model yet; train one with POST /series/{symbol}/train "
                                     "and forecast when the job has succeeded", details={"ticker": symbol})
        elif mid is None:
            found[symbol] = NotFound(f"{symbol} has no model version {version}", details={"ticker": symbol})
        elif status == ModelStatus.BROKEN:
            found[symbol] = Conflict(f"{symbol} version {ver} is broken (its checkpoint failed its hash check); "
                                     f"activate another version or retrain", details={"ticker": symbol, "version": ver})
        else:
            tz = "UTC" if bars.is_daily(frequency) else timezone_of(calendar)
            found[symbol] = Target(symbol, tid, revision, mid, ver, path, sha, field, trained,
                                    None if start is None else bars.moment(start, frequency, tz),
                                    None if end is None else bars.moment(end, frequency, tz), metrics,
                                    int(config["window"]), history_for(config), calendar, frequency)
    for symbol in symbols:
        found.setdefault(symbol, NotFound(f"ticker {symbol!r} not found", details={"ticker": symbol}))
    return found


def recent_prices(session: Session, targets: list[Target]) -> dict[int, list[tuple]]:
    """The latest `history` rows of every target ticker, in two indexed queries whatever the batch's size.

    First each ticker's cutoff (its depth-th latest bar: one short walk down the (ticker, ts) key
    per ticker), then the rows at or after it: tickers sharing a cutoff (a universe updated to the
    same day) share one `ticker_id IN (...) AND ts >= cutoff` term. A cutoff correlated with every
    price row instead was re-run per row: 0.8 s for 1,000 tickers on SQLite.
    """
    depth = max(t.history for t in targets)
    ids = list(dict.fromkeys(t.ticker_id for t in targets))
    inner = aliased(PricePoint)
    cutoff = (select(inner.ts).where(inner.ticker_id == Ticker.id).order_by(inner.ts.desc())
              .offset(depth - 1).limit(1).correlate(Ticker).scalar_subquery())
    by_cut: dict[int, list[int]] = {}
    for chunk in range(0, len(ids), _CHUNK):
        for tid, cut in session.execute(select(Ticker.id, cutoff).where(Ticker.id.in_(ids[chunk:chunk + _CHUNK]))):
            by_cut.setdefault(_TS_MIN if cut is None else cut, []).append(tid)
    out: dict[int, list[tuple]] = {t.ticker_id: [] for t in targets}
    groups = list(by_cut.items())
    # Straight to the driver: 150,000 rows through SQLAlchemy's result objects took 0.2 s of CPU.
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        for chunk in range(0, len(groups), _GROUPS):
            part = groups[chunk:chunk + _GROUPS]
            where = " OR ".join(f"(ticker_id IN ({', '.join([mark] * len(tids))}) AND ts >= {mark})"
                                for _, tids in part)
            cursor.execute(f"SELECT ticker_id, ts, close, adj_close FROM price_point WHERE {where} "
                           "ORDER BY ticker_id, ts", [v for cut, tids in part for v in (*tids, cut)])
            for tid, rows in groupby(cursor.fetchall(), key=itemgetter(0)):
                out[tid] = [r[1:] for r in rows]
    finally:
        cursor.close()
    return out


_GROUPS = 200  # distinct cutoffs per statement
_CHUNK = 2000  # tickers per statement: 2 parameters each, well under every backend's limit
_TS_MIN = -(2**62)


def revision_stamps(engine: Engine, symbols: list[str]) -> dict[str, tuple[int, int]]:
    """(ticker id, revision) of each known symbol, in one indexed query.

    A ticker's revision changes with its prices and with every registry change (new, activated
    or broken version), in any process, so an answer cached under it is never stale. This runs
    on every forecast request, so it talks to the driver directly: SQLAlchemy's statement
    execution was 17% of the server's CPU under load (py-spy).
    """
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT symbol, id, revision FROM ticker WHERE symbol IN ({', '.join([mark] * len(symbols))})"
    try:
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql, symbols)
            stamps = {sym: (tid, rev) for sym, tid, rev in cursor.fetchall()}
            cursor.close()
        finally:
            conn.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        raise Unavailable(f"the database is unavailable ({type(exc).__name__}); retry shortly",
                          headers={"Retry-After": "1"}) from None
    return stamps
