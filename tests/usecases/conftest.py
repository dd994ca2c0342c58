from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.usecases.runtime import Runtime, open_runtime


@pytest.fixture
def rt(settings) -> Iterator[Runtime]:
    """The runtime a use case gets, on the test database (SQLite or Postgres) and an embedded queue."""
    runtime = open_runtime(settings.model_copy(update={"embedded_worker": False}))
    yield runtime
    runtime.close()
