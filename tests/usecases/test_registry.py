"""Registry use cases: read versions and backtests as the API shows them, activate."""

from __future__ import annotations

import pytest

from service.errors import NotFound
from service.tables import ModelStatus
from service.usecases import registry
from tests.factories import make_series, train_model


def test_versions_backtests_and_activation(rt):
    always = rt.settings.model_copy(update={"promotion_policy": "always"})
    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
    job_id = train_model(rt.sessions, always, symbol="A")
    train_model(rt.sessions, always, symbol="A", seed=3)
    models = registry.read_models(rt, symbol="A").models
    assert [(m.version, m.status) for m in models] == [(2, ModelStatus.ACTIVE), (1, ModelStatus.RETIRED)]
    one = registry.read_model(rt, symbol="A", version=1)
    assert one.ticker == "A" and one.job_id == job_id and one.comparison["model"]["rmse"] == one.metrics["rmse"]
    backtest = registry.read_backtest(rt, symbol="A", version=1)
    assert backtest.points and "metrics" not in backtest.model_dump()
    assert registry.activate(rt, symbol="A", version=1).status == ModelStatus.ACTIVE
    assert registry.read_model(rt, symbol="A", version=2).status == ModelStatus.RETIRED
    with pytest.raises(NotFound):
        registry.read_model(rt, symbol="A", version=9)
