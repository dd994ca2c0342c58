"""One ticker's prices as arrays for the models: times, labels, the chosen price field, the bar clock."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.windows import choose_price_field
from service import bars
from service.calendars import DEFAULT_CALENDAR, timezone_of
from service.tables import PricePoint, Ticker


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
