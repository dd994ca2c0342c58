"""50 concurrent uploads of overlapping date ranges to one ticker, against a real server process.

Every request must get a definite answer (200, or a retryable 409/503), and the stored series
must equal the last-writer-wins merge of the successful uploads applied in revision order
(column by column: a merge writes only the columns an upload has), with no duplicate or
lost rows. Values are unique per (upload, day), so every upload changes the series and the
successful ones hold revisions 1..n with no gap.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import httpx
import numpy as np
import pytest

from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
UPLOADS = 50
DAYS = 600
RETRYABLE = {409, 503}


def business_days(n: int, start: date = date(2020, 1, 1)) -> list[date]:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def make_uploads(seed: int = 7) -> list[dict[date, dict[str, float | int]]]:
    """Overlapping ranges; close always, open on every third upload, volume on every other one."""
    calendar = business_days(DAYS)
    rng = np.random.default_rng(seed)
    uploads = []
    for i in range(UPLOADS):
        first = int(rng.integers(0, DAYS - 200))
        length = int(rng.integers(40, 200))
        rows = {}
        for j in range(first, first + length):
            row: dict[str, float | int] = {"close": 1000.0 * (i + 1) + j + 0.25}
            if i % 3 == 0:
                row["open"] = 1000.0 * (i + 1) + j + 0.5
            if i % 2 == 0:
                row["volume"] = 100_000 * (i + 1) + j
            rows[calendar[j]] = row
        uploads.append(rows)
    return uploads


def to_csv(rows: dict[date, dict[str, float | int]]) -> bytes:
    columns = list(next(iter(rows.values())))
    lines = ["date," + ",".join(columns)]
    lines += [f"{day.isoformat()}," + ",".join(repr(row[c]) for c in columns) for day, row in rows.items()]
    return ("\n".join(lines) + "\n").encode()


def send_all(url: str, bodies: list[bytes]) -> list[httpx.Response | BaseException]:
    """Fire every upload at once (a barrier releases all threads together); no retries."""
    results: list[httpx.Response | BaseException] = [RuntimeError("not sent")] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            barrier.wait()
            try:
                results[i] = client.post("/series/LWW", content=bodies[i], headers={"content-type": "text/csv"})
            except httpx.HTTPError as exc:
                results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def merge(uploads: list[dict], order: list[int]) -> dict[str, dict[str, float | int | None]]:
    """Apply uploads in this order, last writer wins per (day, column)."""
    stored: dict[str, dict[str, float | int | None]] = {}
    for i in order:
        for day, row in uploads[i].items():
            point = stored.setdefault(day.isoformat(), dict.fromkeys(("open", "high", "low", "close", "adj_close",
                                                                     "volume")))
            point.update(row)
    return stored


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request, tmp_path):
    settings = {"data_dir": str(tmp_path / "var"), "embedded_worker": "false", "log_level": "warning",
                "rate_limit": "off"}  # 50 requests at once from one address: the limiter is not under test
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("fresh_postgres_url")
    with ServerProcess(tmp_path / "server.log", **settings) as server:
        yield server


def test_concurrent_overlapping_uploads_merge_last_writer_wins(server):
    uploads = make_uploads()
    results = send_all(server.url, [to_csv(u) for u in uploads])

    unanswered = [(i, r) for i, r in enumerate(results) if not isinstance(r, httpx.Response)]
    assert not unanswered, f"requests without an HTTP answer: {unanswered}"
    statuses = [r.status_code for r in results]
    unexpected = {i: (r.status_code, r.text[:300]) for i, r in enumerate(results)
                  if r.status_code != 200 and r.status_code not in RETRYABLE}
    assert not unexpected, f"answers other than 200/409/503: {unexpected}\n{server.log()[-3000:]}"
    for r in results:
        if r.status_code in RETRYABLE:
            assert r.json()["error"]["code"] in ("conflict", "unavailable"), r.text
    print(f"\nstatuses: { {s: statuses.count(s) for s in sorted(set(statuses))} }")

    revisions = {i: r.json()["revision"] for i, r in enumerate(results) if r.status_code == 200}
    assert sorted(revisions.values()) == list(range(1, len(revisions) + 1)), \
        f"successful uploads must hold distinct, gapless revisions: {sorted(revisions.values())}"
    assert len(revisions) >= UPLOADS // 2, f"only {len(revisions)} of {UPLOADS} uploads succeeded: {statuses}"
    expected = merge(uploads, sorted(revisions, key=revisions.get))

    with httpx.Client(base_url=server.url, timeout=60) as client:
        points = client.get("/series/LWW", params={"limit": 100_000}).json()["points"]
        summary = client.get("/series").json()["series"]
    days = [p["date"] for p in points]
    assert len(days) == len(set(days)), "duplicate rows"
    keys = ("ticker", "rows", "first_date", "last_date", "revision")
    assert [{k: s[k] for k in keys} for s in summary] == [
        {"ticker": "LWW", "rows": len(expected), "first_date": min(expected), "last_date": max(expected),
         "revision": len(revisions)}]
    assert set(days) == set(expected), (f"lost rows: {sorted(set(expected) - set(days))[:5]}, "
                                        f"extra rows: {sorted(set(days) - set(expected))[:5]}")
    wrong = {p["date"]: (p, expected[p["date"]]) for p in points
             if {k: v for k, v in p.items() if k != "date"} != expected[p["date"]]}
    assert not wrong, f"{len(wrong)} rows differ from the last-writer-wins merge, e.g. {next(iter(wrong.items()))}"
