"""Database rows (SQLAlchemy 2 typed mappings). ML objects live in models/, HTTP shapes in schemas/."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (JSON, BigInteger, Boolean, Double, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, utcnow


# Tables whose integer ids are never handed out twice, on SQLite too (AUTOINCREMENT; Postgres
# sequences never go back): a deleted ticker's id, or a job's, must not name a new one, or a job
# or a model of the old series would attach to the new (issue 13, row 10).
NEVER_REUSED = ("ticker", "training_job", "model_version", "forecast_record", "api_key")


class Ticker(Base):
    """A price series' owner. `revision` changes whenever any of its prices change.

    `calendar` (service/calendars.py) says when its market is open; `frequency` (service/bars.py)
    is its bar size: 1d for daily prices, else an intraday bar such as 5m.
    """

    __tablename__ = "ticker"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (see NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    calendar: Mapped[str] = mapped_column(String(16), default="XNYS", server_default="XNYS")
    frequency: Mapped[str] = mapped_column(String(8), default="1d", server_default="1d")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    prices: Mapped[list[PricePoint]] = relationship(
        back_populates="ticker", cascade="all, delete-orphan", passive_deletes=True
    )


class PricePoint(Base):
    """One bar of one ticker: (ticker_id, ts) is the key.

    `ts` is epoch seconds UTC: a daily price's date at midnight UTC, an intraday bar's opening
    time. Integers keep a year of minute bars (about 100,000 rows a ticker) compact and compare,
    copy and index the same way on SQLite and Postgres (service/bars.py shows them).
    """

    __tablename__ = "price_point"

    ticker_id: Mapped[int] = mapped_column(
        ForeignKey("ticker.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    open: Mapped[float | None] = mapped_column(Double)
    high: Mapped[float | None] = mapped_column(Double)
    low: Mapped[float | None] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    adj_close: Mapped[float | None] = mapped_column(Double)
    volume: Mapped[int | None] = mapped_column(BigInteger)

    ticker: Mapped[Ticker] = relationship(back_populates="prices")


PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")


class JobStatus(StrEnum):
    """A training job's state; the values are what the database and the API carry."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ModelStatus(StrEnum):
    """A model version's state: one `active` per ticker answers forecasts; `broken` is never served."""

    ACTIVE = "active"
    CANDIDATE = "candidate"
    RETIRED = "retired"
    BROKEN = "broken"


class TrainingJob(Base):
    """One training request. This row, not the queue, is the source of truth for its state."""

    __tablename__ = "training_job"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticker_id: Mapped[int] = mapped_column(ForeignKey("ticker.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    history: Mapped[list] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))

    ticker: Mapped[Ticker] = relationship(lazy="joined")
    model_version: Mapped[ModelVersion | None] = relationship(foreign_keys=[model_version_id], lazy="joined")


class ModelVersion(Base):
    """A trained model of one ticker: where its checkpoint is, its hash, config and metrics."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("ticker_id", "version"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticker_id: Mapped[int] = mapped_column(ForeignKey("ticker.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    checkpoint_path: Mapped[str] = mapped_column(String(500))
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict] = mapped_column(JSON)
    price_field: Mapped[str] = mapped_column(String(16))
    data_start_ts: Mapped[int | None] = mapped_column(BigInteger)  # first and last bar trained on, epoch seconds
    data_end_ts: Mapped[int | None] = mapped_column(BigInteger)
    n_rows: Mapped[int] = mapped_column(Integer)
    data_revision: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(JSON)
    backtest: Mapped[list] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int | None] = mapped_column(Integer)
    promotion: Mapped[str | None] = mapped_column(Text)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticker: Mapped[Ticker] = relationship(lazy="joined")

    @property
    def data_start(self) -> date | datetime | None:
        """The first bar trained on, as the API shows it: a date (daily) or a time in the calendar's zone."""
        return _moment(self.data_start_ts, self.ticker)

    @property
    def data_end(self) -> date | datetime | None:
        return _moment(self.data_end_ts, self.ticker)


class ModelCheckpoint(Base):
    """A model version's checkpoint bytes (safetensors), written in the transaction that registers the version.

    Kept out of model_version so listing versions never reads the weights; no relationship, so
    nothing loads them by accident. Deleting the version deletes its row (the foreign key cascades).
    """

    __tablename__ = "model_checkpoint"

    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def _moment(ts: int | None, ticker: Ticker) -> date | datetime | None:
    if ts is None:
        return None
    from service.bars import moment
    from service.calendars import timezone_of

    daily = ticker.frequency == "1d"
    return moment(ts, ticker.frequency, "UTC" if daily else timezone_of(ticker.calendar))


class ForecastRecord(Base):
    """A served forecast, kept to measure live accuracy once the next price arrives."""

    __tablename__ = "forecast_record"
    __table_args__ = (UniqueConstraint("ticker_id", "version", "as_of_ts"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticker_id: Mapped[int] = mapped_column(ForeignKey("ticker.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    price_field: Mapped[str] = mapped_column(String(16))
    as_of_ts: Mapped[int] = mapped_column(BigInteger)  # the last bar the forecast read, epoch seconds
    last_price: Mapped[float] = mapped_column(Double)
    predicted_price: Mapped[float] = mapped_column(Double)
    prob_up: Mapped[float] = mapped_column(Double)
    intervals: Mapped[list] = mapped_column(JSON)
    served_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    target_ts: Mapped[int | None] = mapped_column(BigInteger)  # the bar whose price resolved it
    actual_price: Mapped[float | None] = mapped_column(Double)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An API key: only its SHA-256 digest is stored; the secret is shown once at creation."""

    __tablename__ = "api_key"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
