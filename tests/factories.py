"""Small typed factories for tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy.orm import Session

from service.series import UploadReport, store_prices
from service.uploads import ParsedUpload


def make_upload(*, n: int = 60, start: date = date(2024, 1, 1), seed: int = 0, **columns) -> ParsedUpload:
    """n business days of a random-walk close (plus any extra columns given as lists)."""
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    rng = np.random.default_rng(seed)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))).round(4).tolist()
    return ParsedUpload(dates=days, columns={"close": close, **columns}, rows_received=n)


def make_series(session: Session, *, symbol: str = "TEST", n: int = 60, **overrides) -> UploadReport:
    report = store_prices(session, symbol=symbol, upload=make_upload(n=n, **overrides))
    session.commit()
    return report


def csv_text(upload: ParsedUpload) -> str:
    cols = list(upload.columns)
    lines = ["date," + ",".join(cols)]
    for i, d in enumerate(upload.dates):
        lines.append(d.isoformat() + "," + ",".join("" if upload.columns[c][i] is None else repr(upload.columns[c][i]) for c in cols))
    return "\n".join(lines) + "\n"
