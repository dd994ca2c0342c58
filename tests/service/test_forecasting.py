"""Forecasts as domain functions: the levels rule, batches, recorded forecasts, broken checkpoints."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from service import bars
from service.calendars import day_ts, ts_day
from service.errors import Conflict, InsufficientData, InvalidInput, NotFound
from service.forecasting.caches import LRU, PREDICTOR_OVERHEAD_BYTES, Caches, predictor_bytes, warm_models
from service.forecasting.forecasts import Forecast, forecast_batch, forecast_inline
from service.forecasting.levels import LEVELS_RULE, check_levels
from service.forecasting.targets import revision_stamps
from service.registry import find_active
from service.series import get_ticker
from service.tables import ForecastRecord, ModelStatus, ModelVersion
from tests.factories import corrupt_checkpoint, make_series, make_upload, train_model


@pytest.mark.parametrize("levels, expected", [(None, (80, 95)), ([95, 50, 95], (50, 95)), ((1, 99), (1, 99))])
def test_levels_are_checked_and_normalised(levels, expected):
    assert check_levels(levels) == expected


@pytest.mark.parametrize("levels", [[], [0], [100], [True], [80.0], ["80"], list(range(1, 12)), 80])
def test_bad_levels_name_the_rule(levels):
    with pytest.raises(InvalidInput) as info:
        check_levels(levels)
    assert LEVELS_RULE in info.value.message


@pytest.mark.parametrize(("calendar", "last", "target"), [
    ("XNYS", date(2024, 1, 5), date(2024, 1, 8)),  # Friday -> Monday
    ("XNYS", date(2024, 1, 8), date(2024, 1, 9)),
    ("XNYS", date(2018, 12, 31), date(2019, 1, 2)),  # New Year's Day is no session (the S&P 500 sample)
    ("XNYS", date(2024, 1, 12), date(2024, 1, 16)),  # a weekend and Martin Luther King Jr. Day
    ("XLON", date(2024, 12, 24), date(2024, 12, 27)),  # Christmas and Boxing Day in London
    ("24/7", date(2024, 1, 5), date(2024, 1, 6)),  # crypto trades on Saturday
    ("weekdays", date(2024, 12, 24), date(2024, 12, 25)),  # FX knows weekends, not holidays
])
def test_daily_targets_are_the_calendars_next_session(calendar, last, target):
    assert ts_day(bars.next_target(calendar, "1d", day_ts(last))) == target


@pytest.fixture
def trained(factory, settings):
    with factory() as s:
        make_series(s, symbol="A", n=400)
        make_series(s, symbol="UNTRAINED", n=400)
    train_model(factory, settings, symbol="A")
    return factory


def test_a_batch_shares_work_records_each_served_forecast_once_and_names_each_problem(trained, settings):
    caches = Caches(settings)
    with trained() as s:
        out = forecast_batch(s, settings=settings, caches=caches, symbols=["A", "UNTRAINED", "NOPE"],
                                         levels=(50, 90))
        s.commit()
        f = out["A"]
        assert isinstance(f, Forecast) and [i.level for i in f.intervals] == [50, 90]
        assert f.ticker_id == get_ticker(s, symbol="A").id and f.revision == get_ticker(s, symbol="A").revision
        assert f.stale is False and f.model.version == 1 and f.target_date > f.as_of
        assert isinstance(out["UNTRAINED"], Conflict) and isinstance(out["NOPE"], NotFound)
        forecast_batch(s, settings=settings, caches=caches, symbols=["A"])
        s.commit()
        assert len(s.scalars(select(ForecastRecord)).all()) == 1
        assert revision_stamps(s.get_bind(), ["A", "NOPE"]) == {"A": (f.ticker_id, f.revision)}


def test_stale_follows_stale_after(trained, settings):
    from service.store import store_prices

    with trained() as s:
        store_prices(s, symbol="A", upload=make_upload(n=403))
        s.commit()
        caches = Caches(settings)
        stale = settings.model_copy(update={"stale_after": 3})
        assert forecast_batch(s, settings=stale, caches=caches, symbols=["A"])["A"].stale is True
        fresh = settings.model_copy(update={"stale_after": 4})
        assert forecast_batch(s, settings=fresh, caches=caches, symbols=["A"])["A"].stale is False


def test_a_corrupt_checkpoint_is_marked_broken_even_though_the_request_fails(trained, settings):
    with trained() as s:
        model = find_active(s, ticker_id=get_ticker(s, symbol="A").id)
        corrupt_checkpoint(s, settings, model)
        revision = get_ticker(s, symbol="A").revision
        out = forecast_batch(s, settings=settings, caches=Caches(settings), symbols=["A"])
        assert isinstance(out["A"], Conflict) and "marked broken" in out["A"].message
        s.rollback()
        s.expire_all()
        assert s.get(ModelVersion, model.id).status == ModelStatus.BROKEN
        assert get_ticker(s, symbol="A").revision == revision + 1


def test_inline_prices(trained, settings):
    upload = make_upload(n=8)
    with trained() as s:
        with pytest.raises(InsufficientData, match="window\\+1=9"):
            forecast_inline(s, settings=settings, caches=Caches(settings), symbol="A",
                                        upload=upload)
        f = forecast_inline(s, settings=settings, caches=Caches(settings), symbol="A",
                                        upload=make_upload(n=9))
        assert f.as_of == make_upload(n=9).dates[-1] and f.price_field == "close"


def test_the_model_cache_is_bounded_by_estimated_bytes_and_the_older_count_setting():
    cache = LRU(None, max_bytes=250, weigh=len)
    for key in "abc":
        cache.put(key, "x" * 100)
    assert (len(cache), cache.bytes, cache.peek("a"), cache.peek("c")) == (2, 200, False, True)
    cache.get("b")  # b is now the most recently used: c goes next
    cache.put("d", "x" * 100)
    assert (cache.peek("b"), cache.peek("c"), cache.bytes) == (True, False, 200)
    cache.put("b", "x" * 10)  # replacing an entry re-weighs it
    assert cache.bytes == 110
    counted = LRU(2, max_bytes=10**9, weigh=len)
    for key in "abc":
        counted.put(key, "x")
    assert len(counted) == 2 and not counted.peek("a")


def test_cold_checkpoints_load_in_one_query_and_the_cache_weighs_each_model(factory, settings):
    from sqlalchemy import event

    with factory() as s:
        for symbol in ("A", "B", "C"):
            make_series(s, symbol=symbol, n=400)
    for symbol in ("A", "B", "C"):
        train_model(factory, settings, symbol=symbol)
    caches = Caches(settings)
    statements: list[str] = []
    engine = factory.kw["bind"].engine if hasattr(factory.kw["bind"], "engine") else factory.kw["bind"]
    listen = lambda conn, cursor, sql, *a: statements.append(sql)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with factory() as s:
            out = forecast_batch(s, settings=settings, caches=caches, symbols=["A", "B", "C"])
            s.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert all(isinstance(out[x], Forecast) for x in "ABC")
    assert sum("FROM model_checkpoint" in sql for sql in statements) == 1
    assert len(caches.models) == 3
    one = predictor_bytes(next(iter(caches.models.data.values()))[0])
    assert caches.models.bytes == 3 * one and one > PREDICTOR_OVERHEAD_BYTES
    # A budget for two models keeps two, and warming at start stops at the budget too.
    small = settings.model_copy(update={"model_cache_mb": 2.5 * one / 1024 / 1024})
    tight = Caches(small)
    with factory() as s:
        forecast_batch(s, settings=small, caches=tight, symbols=["A", "B", "C"])
        s.rollback()
    assert len(tight.models) == 2
    assert warm_models(small, factory, Caches(small)) == 2
