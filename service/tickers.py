"""The ticker rule, in one place: the HTTP schemas, uploads, the CLI and the page (via GET /config) use it.

A ticker is 1-32 characters from letters, digits and `.-^=_`, the first a letter, digit or `^`;
it is stored upper-case. It never becomes a file path.
"""

from __future__ import annotations

import re

from service.errors import InvalidInput

TICKER_CHARACTERS = r"A-Za-z0-9.\-^=_"  # a regex character class body, shared with the page
TICKER_MAX_LENGTH = 32
TICKER_PATTERN = rf"^[A-Za-z0-9^][{TICKER_CHARACTERS}]{{0,{TICKER_MAX_LENGTH - 1}}}$"
TICKER_RE = re.compile(TICKER_PATTERN)
TICKER_EXAMPLE = "BRK.B"
TICKER_RULE = (f"1-{TICKER_MAX_LENGTH} characters from letters, digits and . - ^ = _, the first a letter, "
               f"digit or ^ (e.g. {TICKER_EXAMPLE} or ^GSPC); stored upper-case")


def is_ticker(symbol: object) -> bool:
    """Whether a value follows the ticker rule."""
    return isinstance(symbol, str) and TICKER_RE.fullmatch(symbol) is not None


def normalise_ticker(symbol: object) -> str:
    """Validate a ticker symbol and return it upper-cased (InvalidInput names the rule)."""
    if not is_ticker(symbol):
        raise InvalidInput(f"ticker={symbol!r}: must be {TICKER_RULE}", details={"field": "ticker", "value": symbol})
    return symbol.upper()  # type: ignore[union-attr]
