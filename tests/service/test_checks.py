"""Series warnings: unadjusted splits judged against the series' own volatility, gaps, non-trading days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from service import bars, checks
from service.calendars import day_ts
from service.uploads import parse_csv
from tests.conftest import data_file


def business_days(n: int, start: str = "2010-01-04") -> list[date]:
    return np.busday_offset(start, np.arange(n), roll="forward").astype("datetime64[D]").astype(object).tolist()


def garch_returns(n: int, *, vol: float, seed: int) -> np.ndarray:
    """GARCH(1,1) daily log returns with Student-t (4 dof) shocks: volatility clusters, fat tails."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(4, n) / np.sqrt(2.0)  # unit variance
    out, var = np.empty(n), vol**2
    for t in range(n):
        out[t] = np.sqrt(var) * shocks[t]
        var = vol**2 * 0.05 + 0.10 * out[t] ** 2 + 0.85 * var
    return out


def prices_with_move(*, ratio: float | None, vol: float = 0.02, n: int = 800, at: int = 400, seed: int = 0) -> np.ndarray:
    """A price path whose move into day `at` is close[at-1] / close[at] = ratio (None: no special day)."""
    r = garch_returns(n - 1, vol=vol, seed=seed)
    if ratio is not None:
        r[at - 1] = -np.log(ratio)
    return 50 * np.exp(np.concatenate(([0.0], np.cumsum(r))))


def split_hits(close: np.ndarray) -> list[str]:
    return checks.split_warnings(business_days(len(close)), close.tolist())


@pytest.mark.parametrize(("ratio", "name"), [
    (2.0, "2:1 split"),
    (1.82, "2:1 split"),   # a 2:1 split on a day the stock also rose 10%
    (2.2, "2:1 split"),    # ... or fell 9%
    (7.0, "7:1 split"),
    (1.5, "3:2 split"),
    (20.0, "20:1 split"),
    (0.1, "1:10 reverse split"),
    (0.5, "1:2 reverse split"),
])
@pytest.mark.parametrize("vol", [0.01, 0.02])
def test_split_moves_are_named_with_date_and_ratio(ratio, name, vol):
    close = prices_with_move(ratio=ratio, vol=vol, seed=3)
    hits = split_hits(close)
    day = business_days(len(close))[400]
    assert len(hits) == 1, hits
    assert hits[0].startswith(f"{day}:") and f"close to a {name}" in hits[0]


@pytest.mark.parametrize("ratio", [2.0, 7.0, 0.1])
def test_exact_splits_on_a_volatile_stock(ratio):
    assert len(split_hits(prices_with_move(ratio=ratio, vol=0.04, seed=4))) == 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("vol", [0.02, 0.04, 0.06])
def test_volatile_series_without_a_split_gives_no_alarm(seed, vol):
    assert split_hits(prices_with_move(ratio=None, vol=vol, n=2500, seed=seed)) == []


def test_a_crash_day_is_not_a_split():
    close = prices_with_move(ratio=1 / 0.77, vol=0.01, seed=1)  # a 23% fall, like October 1987
    assert split_hits(close) == []


def test_a_spike_in_a_turbulent_stretch_is_not_a_split():
    """A volatility index doubling (17 -> 37) while its neighbours move 10% a day."""
    r = garch_returns(799, vol=0.02, seed=5)
    r[380:420] = np.random.default_rng(1).normal(0, 0.12, 40)
    r[399] = np.log(37.3 / 17.3)
    assert split_hits(50 * np.exp(np.concatenate(([0.0], np.cumsum(r))))) == []


@pytest.mark.parametrize("name", ["SPX.csv", "MSFT.csv", "IBM.csv", "FB.csv"])
def test_real_series_give_no_split_warning(name):
    upload = parse_csv(data_file(name).read_bytes(), max_rows=10**6)[""]
    assert not any("split" in w for w in upload.warnings)


def test_short_uploads_still_see_an_exact_split():
    assert "2:1 split" in " ".join(checks.split_warnings(business_days(3), [100.0, 100.0, 50.2]))
    assert checks.split_warnings(business_days(1), [100.0]) == []


def test_flat_stretch_then_a_small_move_is_not_a_split():
    close = np.array([10.0] * 100 + [10.5] + [10.5] * 50)
    assert split_hits(close) == []


def _daily(days: list[date], calendar: str = "XNYS") -> list[str]:
    ts = np.array([day_ts(d) for d in days])
    return checks.session_warnings(bars.calendar_for(calendar, ts), "1d", ts, np.ones(ts.size, dtype=bool))


def test_missing_sessions_and_rows_off_the_calendar():
    days = [date(2024, 1, 5), date(2024, 1, 6), date(2024, 1, 8), date(2024, 1, 22)]
    out = _daily(days)
    assert "2024-01-06: a Saturday, not a XNYS session (a weekend); check the dates" in out
    # The weekend and Martin Luther King Jr. Day (2024-01-15) are no sessions, so not missing.
    assert ("8 XNYS session(s) missing between 2024-01-08 and 2024-01-22: 2024-01-09, 2024-01-10, 2024-01-11, "
            "2024-01-12, 2024-01-16, ... (3 more)") in out
    assert _daily([date(2024, 1, 5), date(2024, 1, 6), date(2024, 1, 7)], "24/7") == []
    assert _daily([date(2024, 1, 5), date(2024, 1, 8)], "weekdays") == []


def test_warnings_are_capped_per_kind():
    days = [date.fromordinal(date(2024, 1, 6).toordinal() + 7 * i) for i in range(30)]  # 30 Saturdays
    out = [w for w in _daily(days, "weekdays") if "not a weekdays session" in w or "more rows" in w]
    assert len(out) == checks.MAX_WARNINGS_PER_KIND + 1 and out[-1] == "... and 10 more rows on non-sessions"


def test_short_series_warning_names_both_numbers():
    assert checks.short_series_warning(120, 100) == []
    (message,) = checks.short_series_warning(50, 100)
    assert "50 prices" in message and "at least 100" in message
