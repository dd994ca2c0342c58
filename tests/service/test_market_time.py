"""Market time: timestamps and frequencies on upload, session gaps, intraday targets, PATCH of the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from service import bars
from service.calendars import day_ts, ts_day
from service.errors import Conflict, InvalidInput
from service.pricearrays import load_price_array
from service.series import find_ticker, set_calendar
from service.store import store_prices
from service.uploads import parse_csv

NY = ZoneInfo("America/New_York")


def session_bars(day: date, minutes: int = 5, *, start: str = "09:30", end: str = "16:00") -> list[datetime]:
    """The bars of one NYSE session, naive New York wall-clock times."""
    h0, m0 = map(int, start.split(":"))
    h1, m1 = map(int, end.split(":"))
    t, stop = datetime(day.year, day.month, day.day, h0, m0), datetime(day.year, day.month, day.day, h1, m1)
    out = []
    while t < stop:
        out.append(t)
        t += timedelta(minutes=minutes)
    return out


def csv_of(stamps: list, *, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(stamps))))
    lines = ["date,close"] + [f"{s if isinstance(s, str) else s.isoformat(sep=' ')},{c:.4f}" for s, c in zip(stamps, close)]
    return ("\n".join(lines) + "\n").encode()


def upload(session, symbol: str, body: bytes, **kw):
    return store_prices(session, symbol=symbol, upload=parse_csv(body, max_rows=10**6)[""], **kw)


def test_naive_intraday_bars_are_read_in_the_exchange_zone_and_the_frequency_is_inferred(session):
    stamps = session_bars(date(2024, 1, 2)) + session_bars(date(2024, 1, 3))
    report = upload(session, "AAPL", csv_of(stamps))
    assert (report.frequency, report.frequency_source, report.calendar) == ("5m", "inferred", "XNYS")
    assert report.notes == ["timestamps without a UTC offset were read as America/New_York time "
                            "(the XNYS calendar's zone)"]
    assert report.first == datetime(2024, 1, 2, 9, 30, tzinfo=NY) and report.last_date == date(2024, 1, 3)
    assert report.warnings == []  # the overnight gap is no missing bar
    data = load_price_array(session, ticker_id=report.ticker_id)
    assert int(data.ts[0]) == int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp())  # stored in UTC
    assert data.dates[0] == "2024-01-02T09:30:00-05:00"
    # Slots: bar of the session; the first bar of the second day follows a closure (the last category).
    assert data.slots[1] == 1 and data.slots[78] == data.n_slots - 1 and data.n_slots == 79


def test_timestamps_with_offsets_are_exact_and_a_mix_with_naive_ones_is_refused(session):
    report = upload(session, "A", csv_of(["2024-01-02T14:30:00Z", "2024-01-02T09:35:00-05:00", "2024-01-02 15:40+01:00"]))
    assert report.frequency == "5m" and report.notes == []
    with pytest.raises(InvalidInput) as info:
        parse_csv(csv_of(["2024-01-02T14:30:00Z", "2024-01-02 09:35"]), max_rows=10)
    assert info.value.details["rows"][0]["line"] == 3 and "without a UTC offset" in info.value.details["rows"][0]["reason"]


def test_mixed_frequencies_are_refused_naming_the_lines(session):
    stamps = session_bars(date(2024, 1, 2))
    stamps[10] = stamps[10] + timedelta(minutes=2)  # 10:22, not on the 5m grid
    with pytest.raises(InvalidInput) as info:
        upload(session, "A", csv_of(stamps))
    row = info.value.details["rows"][0]
    assert row["line"] == 12 and row["value"] == "2024-01-02T10:22:00" and "not on the 5m grid" in row["reason"]
    assert find_ticker(session, symbol="A") is None or find_ticker(session, symbol="A").revision == 0
    session.rollback()
    upload(session, "B", csv_of(session_bars(date(2024, 1, 2))))
    with pytest.raises(InvalidInput, match="mixed frequencies: the series has 5m bars, this upload's bars are 1m"):
        upload(session, "B", csv_of(session_bars(date(2024, 1, 3), minutes=1)))
    session.rollback()
    with pytest.raises(InvalidInput) as info:
        upload(session, "B", csv_of(["2024-01-04 10:00", "2024-01-04 10:01"]), frequency="5m")
    assert "not on the 5m grid" in info.value.details["rows"][0]["reason"]


def test_a_daily_series_refuses_intraday_rows(session):
    upload(session, "D", csv_of(["2024-01-02", "2024-01-03"]))
    with pytest.raises(InvalidInput) as info:
        upload(session, "D", csv_of(["2024-01-04 10:00", "2024-01-04 11:00"]))
    assert "a time of day in a daily series" in info.value.details["rows"][0]["reason"]


def test_missing_bars_inside_a_session_are_named_but_not_the_night_or_a_half_day(session):
    stamps = session_bars(date(2024, 11, 27)) + session_bars(date(2024, 11, 29), end="13:00")  # Thanksgiving 28th
    del stamps[5:8]  # 09:55, 10:00, 10:05 on the 27th
    report = upload(session, "A", csv_of(stamps))
    assert report.warnings == ["3 missing 5m bar(s) between 2024-11-27T09:50:00-05:00 and 2024-11-27T10:10:00-05:00"]


def test_a_bar_outside_the_session_warns(session):
    report = upload(session, "A", csv_of(session_bars(date(2024, 1, 2)) + ["2024-01-02 17:00"]))
    assert report.warnings[0] == ("2024-01-02T17:00:00-05:00: outside the XNYS sessions (bars are stamped with the "
                                  "time they open); check the times")


def test_a_24_7_series_runs_through_the_weekend(session):
    start = datetime(2024, 1, 5, 20, 0)
    stamps = [start + timedelta(hours=k) for k in range(100)]
    report = upload(session, "BTC", csv_of(stamps), calendar="24/7")
    assert (report.frequency, report.timezone, report.warnings) == ("1h", "UTC", [])
    data = load_price_array(session, ticker_id=report.ticker_id)
    assert data.n_slots == 25 and (data.slots[1:] < 24).all()  # no closure anywhere


@pytest.mark.parametrize(("last", "frequency", "target"), [
    (datetime(2024, 1, 2, 10, 0), "5m", datetime(2024, 1, 2, 10, 5)),
    (datetime(2024, 1, 2, 15, 55), "5m", datetime(2024, 1, 3, 9, 30)),  # the next session's open, not 16:00
    (datetime(2024, 1, 12, 15, 55), "5m", datetime(2024, 1, 16, 9, 30)),  # a weekend and Martin Luther King Jr. Day
    (datetime(2024, 11, 29, 12, 55), "5m", datetime(2024, 12, 2, 9, 30)),  # a half day closes at 13:00
    (datetime(2024, 1, 2, 15, 30), "1h", datetime(2024, 1, 3, 9, 30)),  # the short last hourly bar 15:30-16:00
])
def test_intraday_targets_follow_the_sessions(last, frequency, target):
    ts = int(last.replace(tzinfo=NY).timestamp())
    assert datetime.fromtimestamp(bars.next_target("XNYS", frequency, ts), NY) == target.replace(tzinfo=NY)


def test_a_lunch_break_is_a_closure():
    tokyo = ZoneInfo("Asia/Tokyo")
    last = int(datetime(2024, 1, 5, 11, 25, tzinfo=tokyo).timestamp())  # the morning session ends 11:30
    assert datetime.fromtimestamp(bars.next_target("XTKS", "5m", last), tokyo) == datetime(2024, 1, 5, 12, 30,
                                                                                           tzinfo=tokyo)


def test_patch_calendar_changes_the_next_target_and_warns(session):
    days = [date(2024, 12, 24), date(2024, 12, 26), date(2024, 12, 27)]
    upload(session, "X", csv_of([d.isoformat() for d in days]))
    ticker, warnings = set_calendar(session, symbol="X", calendar="XLON")
    assert ticker.calendar == "XLON" and ticker.revision == 2
    assert warnings == ["2024-12-26: a Thursday, not a XLON session (a holiday or closure); check the dates"]
    assert ts_day(bars.next_target("XLON", "1d", day_ts(date(2024, 12, 24)))) == date(2024, 12, 27)
    with pytest.raises(InvalidInput, match="calendar='xlon': unknown.*did you mean XLON"):
        set_calendar(session, symbol="X", calendar="xlon")


def test_an_existing_series_keeps_its_calendar_unless_patched(session):
    upload(session, "X", csv_of(["2024-01-02"]))
    with pytest.raises(Conflict, match="already has calendar XNYS; change it with PATCH"):
        upload(session, "X", csv_of(["2024-01-03"]), calendar="XLON")


def test_days_outside_the_librarys_range_are_weekdays():
    from service import checks

    ts = np.array([day_ts(date(1995, 1, 3)), day_ts(date(1995, 1, 4))])  # XTKS is known from 1997
    out = checks.session_warnings(bars.calendar_for("XTKS", ts), "1d", ts, np.ones(2, dtype=bool))
    assert len(out) == 1 and "judged as weekdays" in out[0]
