"""Series use cases: list, read, and delete a ticker with its checkpoint files (after the commit)."""

from __future__ import annotations

import pytest

from service.errors import NotFound
from service.usecases import series
from tests.factories import make_series, train_model


def test_list_read_and_delete_with_checkpoints(rt):
    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
        make_series(s, symbol="B", n=10)
    train_model(rt.sessions, rt.settings, symbol="A")
    assert [(x.ticker, x.rows) for x in series.read_series_list(rt).series] == [("A", 400), ("B", 10)]
    assert len(series.read_series(rt, symbol="A", limit=5).points) == 5
    assert len(list(rt.settings.checkpoint_dir.iterdir())) == 1
    series.delete_ticker(rt, symbol="A")
    assert list(rt.settings.checkpoint_dir.iterdir()) == []
    assert [x.ticker for x in series.read_series_list(rt).series] == ["B"]
    with pytest.raises(NotFound):
        series.delete_ticker(rt, symbol="A")
