"""Ingest prices: the single upload, the bulk upload, `pricecast import` and `pricecast demo` all come here.

The sequence, in one unit of work: parse -> store (all tickers or none) -> resolve the served
forecasts the new prices answer -> queue a retrain where PRICECAST_RETRAIN_AFTER says so ->
commit -> deliver those jobs. A retrain the queue refuses fails with the reason and becomes a
warning on the report: the prices are stored either way.
"""

from __future__ import annotations

from typing import Any, Literal

from service.accuracy import resolve_forecasts
from service.bars import check_frequency
from service.calendars import check_calendar
from service.errors import InvalidInput
from service.retraining import maybe_retrain
from service.schemas.series import UploadReportRead
from service.store import Mode, store_uploads
from service.uploads import CsvLimits, ParsedUpload, parse_csv, parse_points
from service.usecases.runtime import Runtime
from service.usecases.training import deliver

BodyKind = Literal["csv", "json"]


def upload_series(rt: Runtime, *, symbol: str, kind: BodyKind, body: bytes | Any, mode: Mode = "merge",
                  calendar: str | None = None, frequency: str | None = None) -> UploadReportRead:
    """Store one ticker's prices from a CSV file or JSON points (`body`: bytes, or the parsed JSON).

    `calendar` is a new series' calendar (default PRICECAST_DEFAULT_CALENDAR); `frequency` the
    bar size, else the series' own, else inferred from the timestamps.
    """
    max_rows, limits = rt.settings.max_upload_rows, CsvLimits.of(rt.settings)
    upload = (parse_points(body, max_rows=max_rows) if kind == "json"
              else parse_csv(body, max_rows=max_rows, limits=limits)[""])
    return _ingest(rt, {symbol: upload}, mode, calendar, frequency)[0]


def upload_many(rt: Runtime, *, body: bytes, mode: Mode = "merge", calendar: str | None = None,
                frequency: str | None = None) -> list[UploadReportRead]:
    """Store a long-format CSV with a `ticker` column: every ticker or none."""
    return _ingest(rt, parse_csv(body, max_rows=rt.settings.max_upload_rows, with_ticker=True,
                                 limits=CsvLimits.of(rt.settings)), mode, calendar, frequency)


def _ingest(rt: Runtime, uploads: dict[str, ParsedUpload], mode: Mode, calendar: str | None,
            frequency: str | None) -> list[UploadReportRead]:
    if not uploads:
        raise InvalidInput("the upload has no rows", details={"rows": [], "omitted": 0})
    if calendar is not None:
        check_calendar(calendar)
    if frequency is not None:
        frequency = check_frequency(frequency)
    retrains: list[tuple[int, int]] = []
    retrained: list[Any] = []  # the reports whose ticker got a retraining job
    with rt.unit_of_work() as session:
        reports = store_uploads(session, uploads=uploads, mode=mode, calendar=calendar, frequency=frequency,
                                default_calendar=rt.settings.default_calendar)
        for report in reports:
            if not (report.rows_inserted or report.rows_updated or report.rows_deleted):
                continue
            resolve_forecasts(session, ticker_id=report.ticker_id)
            job = maybe_retrain(session, settings=rt.settings, symbol=report.ticker)
            if job is not None:
                retrains.append((job.id, job.priority))
                retrained.append(report)
                report.warnings.append(f"queued retraining job {job.id}: the active model is >= "
                                       f"PRICECAST_RETRAIN_AFTER={rt.settings.retrain_after} prices behind")
    failure = deliver(rt, retrains)
    if failure is not None:
        for report in retrained:
            report.warnings.append(f"the retraining job failed: {failure}; the prices are stored")
    return [UploadReportRead.model_validate(r) for r in reports]
