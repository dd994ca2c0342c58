from __future__ import annotations

import pytest

from service.db import make_engine, make_sessionmaker


@pytest.fixture
def factory(settings):
    """A sessionmaker on the test database, for code that opens its own sessions."""
    engine = make_engine(settings.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()
