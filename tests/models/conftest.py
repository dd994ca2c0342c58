"""Shared fixtures for the models/ tests: one tiny trained model."""

from __future__ import annotations

import numpy as np
import pytest

from models.train import TrainResult, train
from tests.models.synthetic import ar1_prices, tiny_config


@pytest.fixture(scope="session")
def tiny_result() -> TrainResult:
    prices = ar1_prices(400, seed=3)
    dates = [f"d{i:04d}" for i in range(prices.size)]
    return train(prices, tiny_config(), seed=1, dates=dates, price_field="adj_close")


@pytest.fixture(scope="session")
def tiny_prices() -> np.ndarray:
    return ar1_prices(400, seed=3)
