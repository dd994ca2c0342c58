"""Forecast use cases: answers serialised by the declared schema, cached under the ticker's revision."""

from __future__ import annotations

import json

import pytest

from service.errors import Conflict, NotFound
from service.schemas.forecasts import BatchForecastRead, ForecastRead, ForecastRequest
from service.store import store_prices
from service.usecases import forecasts, registry
from tests.factories import make_series, make_upload, train_model


@pytest.fixture
def trained(rt):
    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
        make_series(s, symbol="UNTRAINED", n=400)
    train_model(rt.sessions, rt.settings.model_copy(update={"promotion_policy": "always"}), symbol="A")
    return rt


def test_a_single_answer_is_exactly_forecast_read_and_is_cached(trained):
    rt = trained
    request = ForecastRequest(ticker="a")
    assert forecasts.cached_answer(rt, request) is None
    first = forecasts.forecast(rt, request)
    assert (first.hits, first.misses) == (0, 1)
    assert ForecastRead.model_validate_json(first.body).model_dump_json().encode() == first.body
    assert set(json.loads(first.body)) == set(ForecastRead.model_fields)
    hit = forecasts.cached_answer(rt, request)
    assert hit is not None and hit.body == first.body and hit.hits == 1


def test_new_prices_or_an_activation_invalidate_the_cached_answer(trained):
    rt = trained
    request = ForecastRequest(ticker="A")
    first = forecasts.forecast(rt, request).data()
    with rt.unit_of_work() as s:
        store_prices(s, symbol="A", upload=make_upload(n=401))
    assert forecasts.cached_answer(rt, request) is None
    after = forecasts.forecast(rt, request).data()
    assert after["as_of"] > first["as_of"]
    train_model(rt.sessions, rt.settings.model_copy(update={"promotion_policy": "always"}), symbol="A", seed=5)
    assert forecasts.cached_answer(rt, request) is None
    assert forecasts.forecast(rt, request).data()["model"]["version"] == 2
    registry.activate(rt, symbol="A", version=1)
    assert forecasts.cached_answer(rt, request) is None
    assert forecasts.forecast(rt, request).data()["model"]["version"] == 1


def test_a_batch_is_batch_forecast_read_with_one_entry_per_problem(trained):
    rt = trained
    answer = forecasts.forecast(rt, ForecastRequest(tickers=["A", "NOPE", "UNTRAINED", "a b", "a"], levels=[90]))
    body = BatchForecastRead.model_validate_json(answer.body)
    assert [f.ticker for f in body.forecasts] == ["A"] and [i.level for i in body.forecasts[0].intervals] == [90]
    assert [(e.ticker, e.code) for e in body.errors] == [("a b", "invalid_input"), ("NOPE", "not_found"),
                                                         ("UNTRAINED", "conflict")]
    assert answer.errors == 3
    # every ticker cached: the hot path answers the same bytes as the full path
    batch = ForecastRequest(tickers=["A"], levels=[90])
    assert forecasts.cached_answer(rt, batch).body == forecasts.forecast(rt, batch).body


def test_single_errors_raise(trained):
    with pytest.raises(NotFound):
        forecasts.forecast(trained, ForecastRequest(ticker="NOPE"))
    with pytest.raises(Conflict):
        forecasts.forecast(trained, ForecastRequest(ticker="UNTRAINED"))


def test_inline_prices_are_not_cached_or_recorded(trained):
    rt = trained
    points = [{"date": d.isoformat(), "close": c} for d, c in zip(make_upload(n=40).dates, make_upload(n=40).columns["close"])]
    answer = forecasts.forecast(rt, ForecastRequest(ticker="A", prices=points))
    assert json.loads(answer.body)["as_of"] == points[-1]["date"]
    assert forecasts.accuracy(rt, symbol="A").served == 0
