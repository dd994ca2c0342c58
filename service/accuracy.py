"""Live accuracy: resolve served forecasts when the next price arrives, and report them next to baselines."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.series import get_ticker
from service.tables import ForecastRecord, PricePoint


def resolve_forecasts(session: Session, *, ticker_id: int) -> int:
    """Resolve every pending forecast of a ticker whose next price (bar) has arrived; return how many."""
    pending = session.scalars(select(ForecastRecord).where(ForecastRecord.ticker_id == ticker_id,
                                                           ForecastRecord.resolved_at.is_(None))).all()
    if not pending:
        return 0
    first = min(r.as_of_ts for r in pending)
    rows = session.execute(select(PricePoint.ts, PricePoint.close, PricePoint.adj_close)
                           .where(PricePoint.ticker_id == ticker_id, PricePoint.ts > first)
                           .order_by(PricePoint.ts)).all()
    days = [r[0] for r in rows]
    now, resolved = utcnow(), 0
    for record in pending:
        i = bisect.bisect_right(days, record.as_of_ts)
        if i == len(days):
            continue
        _, close, adj = rows[i]
        actual = adj if record.price_field == "adj_close" else close
        if actual is None:
            continue
        record.target_ts, record.actual_price, record.resolved_at = days[i], actual, now
        resolved += 1
    session.flush()
    return resolved


def _stats(records: list[ForecastRecord]) -> dict:
    n = len(records)
    if n == 0:
        return {"resolved": 0}
    err = [r.predicted_price - r.actual_price for r in records]
    pers = [r.last_price - r.actual_price for r in records]
    up = [r.actual_price > r.last_price for r in records]
    hits = [(r.predicted_price > r.last_price) == u for r, u in zip(records, up, strict=True)]
    out = {
        "resolved": n,
        "mae": sum(abs(e) for e in err) / n,
        "rmse": math.sqrt(sum(e * e for e in err) / n),
        "persistence_mae": sum(abs(e) for e in pers) / n,
        "persistence_rmse": math.sqrt(sum(e * e for e in pers) / n),
        "directional_accuracy": sum(hits) / n,
        "base_rate": sum(up) / n,
        "brier": sum((r.prob_up - u) ** 2 for r, u in zip(records, up, strict=True)) / n,
        "coverage": {},
    }
    levels: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        for band in r.intervals:
            levels[int(band["level"])].append(band["low"] <= r.actual_price <= band["high"])
    out["coverage"] = {str(level): sum(v) / len(v) for level, v in sorted(levels.items())}
    return out


def accuracy_report(session: Session, *, symbol: str) -> dict:
    """Resolved live forecasts per model version and overall, next to persistence and the base rate."""
    ticker = get_ticker(session, symbol=symbol)
    records = session.scalars(select(ForecastRecord).where(ForecastRecord.ticker_id == ticker.id)
                              .order_by(ForecastRecord.as_of_ts)).all()
    done = [r for r in records if r.resolved_at is not None]
    by_version: dict[int, list[ForecastRecord]] = defaultdict(list)
    for r in done:
        by_version[r.version].append(r)
    return {
        "ticker": symbol,
        "served": len(records),
        "pending": len(records) - len(done),
        "overall": _stats(done),
        "versions": [{"version": v, **_stats(rs)} for v, rs in sorted(by_version.items(), reverse=True)],
    }
