"""The input rules a client can check before it sends anything (GET /config; the page reads them)."""

from __future__ import annotations

from dataclasses import fields

from models.lstm import BOUNDS, LSTMConfig
from service.bars import FREQUENCY_RULE
from service.calendars import calendar_names
from service.forecasting.levels import DEFAULT_LEVELS, LEVEL_MAX, LEVEL_MIN, LEVELS_RULE, MAX_LEVELS
from service.schemas.config import ConfigRead, LevelsRuleRead, ParamRuleRead, TickerRuleRead
from service.settings import Settings
from service.tables import JobStatus, ModelStatus
from service.tickers import TICKER_CHARACTERS, TICKER_EXAMPLE, TICKER_MAX_LENGTH, TICKER_PATTERN, TICKER_RULE
from service.training.params import SEED_MAX, TRAIN_FIELDS


def rules(settings: Settings) -> ConfigRead:
    """Tickers, interval levels, training parameters and the size limits of this server."""
    defaults = LSTMConfig()
    types = {f.name: f.type for f in fields(LSTMConfig)}
    training = {name: ParamRuleRead(min=BOUNDS[name][0], max=BOUNDS[name][1], default=getattr(defaults, name),
                                    integer=types[name] in ("int", int)) for name in TRAIN_FIELDS}
    training["seed"] = ParamRuleRead(min=0, max=SEED_MAX, default=0, integer=True)
    return ConfigRead(
        ticker=TickerRuleRead(pattern=TICKER_PATTERN, characters=TICKER_CHARACTERS, max_length=TICKER_MAX_LENGTH,
                              description=TICKER_RULE, example=TICKER_EXAMPLE),
        levels=LevelsRuleRead(min=LEVEL_MIN, max=LEVEL_MAX, max_count=MAX_LEVELS, default=list(DEFAULT_LEVELS),
                              description=LEVELS_RULE),
        training=training,
        limits={"max_upload_bytes": settings.max_upload_bytes, "max_upload_rows": settings.max_upload_rows,
                "max_batch_tickers": settings.max_batch_tickers, "max_bulk_tickers": settings.max_bulk_tickers,
                "series_page_max": settings.series_page_max, "jobs_page_max": settings.jobs_page_max},
        calendars=list(calendar_names()), default_calendar=settings.default_calendar, frequency=FREQUENCY_RULE,
        stale_after=settings.stale_after,
        job_statuses=list(JobStatus), model_statuses=list(ModelStatus),
    )
