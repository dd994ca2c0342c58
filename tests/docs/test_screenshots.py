"""docs/screenshots/ holds exactly what the browser tests shoot, so each picture has code that makes it
(`PRICECAST_SCREENSHOTS_TO_DOCS=1 scripts/test tests/e2e/test_page.py` regenerates them all)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_committed_screenshot_is_made_by_a_browser_test_and_vice_versa() -> None:
    source = (ROOT / "tests" / "e2e" / "test_page.py").read_text()
    shot = {m.group(1) for m in re.finditer(r'shoot\(browser, "([\w-]+)"\)', source)}  # to_docs left at True
    committed = {p.stem for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert shot == committed
    referenced = set(re.findall(r"screenshots/([\w-]+)\.png", (ROOT / "docs" / "web.md").read_text()
                                + (ROOT / "README.md").read_text()))
    assert referenced <= committed
