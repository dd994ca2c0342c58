"""The ticker rule: one pattern, one sentence, used by uploads, schemas and GET /config."""

from __future__ import annotations

import pytest

from service.errors import InvalidInput
from service.tickers import TICKER_RE, TICKER_RULE, is_ticker, normalise_ticker
from service.uploads import normalise_ticker as from_uploads


@pytest.mark.parametrize("symbol", ["A", "brk.b", "^GSPC", "ES=F", "X" * 32, "0700_HK", "a-b"])
def test_valid_tickers_are_upper_cased(symbol):
    assert normalise_ticker(symbol) == symbol.upper() and is_ticker(symbol)


@pytest.mark.parametrize("symbol", ["", " A", "a b", ".A", "-A", "X" * 33, "A/B", "é", "A\n", None, 5, ["A"]])
def test_invalid_tickers_get_the_rule_in_words(symbol):
    with pytest.raises(InvalidInput) as info:
        normalise_ticker(symbol)
    assert TICKER_RULE in info.value.message and "[A-Za-z" not in info.value.message
    assert info.value.details == {"field": "ticker", "value": symbol}
    assert not is_ticker(symbol)


def test_uploads_keep_the_same_rule():
    assert from_uploads is normalise_ticker and TICKER_RE.fullmatch("BRK.B")
