"""Database rows (SQLAlchemy 2 typed mappings). ML objects live in models/, HTTP shapes in schemas.py."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Double, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, utcnow


class Ticker(Base):
    """A price series' owner. `revision` changes whenever any of its prices change."""

    __tablename__ = "ticker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    prices: Mapped[list[PricePoint]] = relationship(
        back_populates="ticker", cascade="all, delete-orphan", passive_deletes=True
    )


class PricePoint(Base):
    """One trading day of one ticker: (ticker_id, date) is the key."""

    __tablename__ = "price_point"

    ticker_id: Mapped[int] = mapped_column(
        ForeignKey("ticker.id", ondelete="CASCADE"), primary_key=True
    )
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[float | None] = mapped_column(Double)
    high: Mapped[float | None] = mapped_column(Double)
    low: Mapped[float | None] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    adj_close: Mapped[float | None] = mapped_column(Double)
    volume: Mapped[int | None] = mapped_column(BigInteger)

    ticker: Mapped[Ticker] = relationship(back_populates="prices")


PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
