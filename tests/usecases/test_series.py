"""Series use cases: list, read, and delete a ticker with its checkpoint files (after the commit)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from service.errors import NotFound
from service.tables import ModelCheckpoint
from service.usecases import series
from tests.factories import make_series, train_model


@pytest.mark.parametrize("store", ["database", "files"])
def test_list_read_and_delete_with_checkpoints(rt, store):
    rt = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"checkpoint_store": store}))

    def stored() -> int:
        with rt.reading() as s:
            rows = s.scalar(select(func.count()).select_from(ModelCheckpoint))
        files = len(list(rt.settings.checkpoint_dir.iterdir())) if rt.settings.checkpoint_dir.exists() else 0
        return rows + files

    with rt.unit_of_work() as s:
        make_series(s, symbol="A", n=400)
        make_series(s, symbol="B", n=10)
    train_model(rt.sessions, rt.settings, symbol="A")
    assert [(x.ticker, x.rows) for x in series.read_series_list(rt).series] == [("A", 400), ("B", 10)]
    assert len(series.read_series(rt, symbol="A", limit=5).points) == 5
    assert stored() == 1
    series.delete_ticker(rt, symbol="A")
    assert stored() == 0  # the row cascades with its version; a file goes after the commit
    assert [x.ticker for x in series.read_series_list(rt).series] == ["B"]
    with pytest.raises(NotFound):
        series.delete_ticker(rt, symbol="A")
