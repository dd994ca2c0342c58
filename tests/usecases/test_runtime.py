"""The one bootstrap: the embedded database migrates itself; any other is refused when behind head."""

from __future__ import annotations

import pytest

from service import migrate
from service.migrate import SchemaBehind
from service.settings import Settings
from service.usecases.runtime import open_runtime


def test_the_embedded_database_migrates_itself(tmp_path):
    rt = open_runtime(Settings(data_dir=tmp_path / "var"))
    try:
        with rt.unit_of_work() as s:
            assert s.connection().exec_driver_sql("SELECT count(*) FROM ticker").scalar() == 0
    finally:
        rt.close()


def test_a_database_behind_head_is_refused(tmp_path):
    s = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'behind.db'}")
    migrate.upgrade(s, "base")
    with pytest.raises(SchemaBehind, match="pricecast migrate"):
        open_runtime(s)
