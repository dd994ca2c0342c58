"""The rules GET /config states are the ones the schemas and the domain enforce."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.schemas.forecasts import ForecastRequest
from service.schemas.training import BulkTrainRequest, TrainRequest
from service.settings import Settings
from service.usecases.config import rules


def test_training_bounds_and_levels_match_what_requests_accept():
    config = rules(Settings())
    for name, bound in config.training.items():
        cast = int if bound.integer else float
        TrainRequest.model_validate({name: cast(bound.min)})
        TrainRequest.model_validate({name: cast(bound.max)})
        with pytest.raises(ValidationError):
            TrainRequest.model_validate({name: cast(bound.max) + 1})
    ForecastRequest(ticker="A", levels=[config.levels.min, config.levels.max])
    with pytest.raises(ValidationError):
        ForecastRequest(ticker="A", levels=[config.levels.max + 1])
    with pytest.raises(ValidationError):
        ForecastRequest(ticker="A", levels=list(range(1, config.levels.max_count + 2)))
    with pytest.raises(ValidationError):
        BulkTrainRequest(all=False)
