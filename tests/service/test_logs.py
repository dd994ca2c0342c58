"""Log lines: one record is one line, whatever a client put in a ticker, path or header."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service.logs import configure_logging
from service.settings import Settings

FORGED = "X\n2026-01-01 00:00:00,000 INFO    pricecast.access: forged\r\x1b[2K\u2028\x00"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_control_characters_cannot_forge_a_log_line(fmt, restore_logging):
    out = io.StringIO()
    configure_logging(Settings(log_format=fmt), stream=out)
    log = logging.getLogger("pricecast.access")
    log.info("POST %s 200", "/series/" + FORGED, extra={"path": "/series/" + FORGED, "ticker": FORGED})
    try:
        raise ValueError("bad ticker " + FORGED)
    except ValueError:
        log.exception("upload of %s failed", FORGED)
    lines = out.getvalue().splitlines()
    if fmt == "json":
        assert len(lines) == 2 and all(json.loads(line) for line in lines)
        return
    records = [line for line in lines if not line.startswith("  | ")]
    assert len(records) == 2, lines  # the trace's lines are marked continuations
    assert all(line[:4].isdigit() for line in records)
    assert not any(c in out.getvalue().replace("\n", "") for c in "\r\x1b\u2028\x00")
    assert "\\n2026-01-01" in records[0] and "\\x1b" in records[0]
