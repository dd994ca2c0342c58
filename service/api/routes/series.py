"""Upload, list, read and delete price series."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import StringConstraints, WithJsonSchema

from service.api.auth import Read, Write
from service.api.bodies import read_body
from service.api.deps import RuntimeDep, SettingsDep
from service.api.params import PathTicker
from service.errors import InvalidInput

from service.tickers import TICKER_CHARACTERS, TICKER_MAX_LENGTH
from service.bars import FREQUENCY_PATTERN, FREQUENCY_RULE
from service.schemas.errors import ErrorResponse
from service.schemas.series import (
    CSV_SCHEMA,
    DATE_PATTERN,
    DATE_SCHEMA,
    LONG_CSV_SCHEMA,
    POINT_SCHEMA,
    BulkUploadRead,
    SeriesListRead,
    SeriesPatch,
    SeriesPatchRead,
    SeriesRead,
    UploadReportRead,
    calendar_enum,
)
from service.tables import PRICE_COLUMNS
from service.uploads import parse_date
from service.usecases import ingest, series

# YYYY-MM-DD within the service's dates, as a string whose schema says so
QueryDate = Annotated[str, StringConstraints(pattern=DATE_PATTERN), WithJsonSchema(DATE_SCHEMA)]

router = APIRouter(tags=["series"])

_ERRORS = {
    404: {"model": ErrorResponse, "description": "Unknown ticker"},
    409: {"model": ErrorResponse,
          "description": "Conflicts with the stored series (another calendar: PATCH changes it)"},
    413: {"model": ErrorResponse, "description": "Body larger than max_upload_bytes"},
    415: {"model": ErrorResponse, "description": "Body type not accepted"},
    422: {"model": ErrorResponse, "description": "Invalid input; details name each bad row"},
    503: {"model": ErrorResponse, "description": "Database unavailable; retry"},
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": CSV_SCHEMA, "example": "date,close\n2024-01-02,101.5\n2024-01-03,102.25\n"},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": CSV_SCHEMA},
                                               "required": ["file"]}},
            "application/json": {"schema": {"type": "object", "required": ["points"], "properties": {
                "points": {"type": "array", "minItems": 1, "items": POINT_SCHEMA}}}},
        },
    }
}
ModeQuery = Annotated[Literal["merge", "replace"], Query(description="merge: insert and update; replace: the upload becomes the whole series")]
CalendarQuery = Annotated[str | None, Query(
    description="a new series' calendar (default PRICECAST_DEFAULT_CALENDAR): an exchange code such as XNYS, XLON or "
                "XTKS, 24/7 or weekdays; an existing series keeps its own (PATCH /series/{ticker} changes it)",
    json_schema_extra=calendar_enum)]
FrequencyQuery = Annotated[str | None, Query(
    description="the bar size (else the series' own, else inferred from the timestamps): " + FREQUENCY_RULE,
    pattern=FREQUENCY_PATTERN)]


def count_rows(request: Request, reports: list[UploadReportRead]) -> None:
    counter = request.app.state.metrics.upload_rows
    for r in reports:
        for outcome in ("inserted", "updated", "unchanged", "deleted"):
            counter.labels(outcome).inc(getattr(r, f"rows_{outcome}"))


@router.post("/series/{ticker}", response_model=UploadReportRead, responses=_ERRORS, openapi_extra=_UPLOAD_BODY,
             dependencies=[Write])
async def upload_series(ticker: PathTicker, request: Request, rt: RuntimeDep, mode: ModeQuery = "merge",
                        calendar: CalendarQuery = None, frequency: FrequencyQuery = None) -> UploadReportRead:
    """Upload prices for one ticker (CSV, multipart file or JSON points): daily dates or intraday timestamps
    (ISO 8601; without a UTC offset they are read in the calendar's zone). All or nothing."""
    kind, body = await read_body(request)
    report = await run_in_threadpool(ingest.upload_series, rt, symbol=ticker, kind=kind, body=body, mode=mode,
                                     calendar=calendar, frequency=frequency)
    count_rows(request, [report])
    return report


@router.post("/series", response_model=BulkUploadRead, responses=_ERRORS, dependencies=[Write], openapi_extra={"requestBody": {
    "required": True, "content": {"text/csv": {"schema": LONG_CSV_SCHEMA,
                                               "example": "ticker,date,close\nAAA,2024-01-02,10\nBBB,2024-01-02,20\n"}}}})
async def upload_many(request: Request, rt: RuntimeDep, mode: ModeQuery = "merge", calendar: CalendarQuery = None,
                      frequency: FrequencyQuery = None) -> BulkUploadRead:
    """Bulk import: one long-format CSV with a `ticker` column; all tickers or none are stored."""
    _, body = await read_body(request, json_ok=False)
    reports = await run_in_threadpool(ingest.upload_many, rt, body=body, mode=mode, calendar=calendar,
                                      frequency=frequency)
    count_rows(request, reports)
    return BulkUploadRead(results=reports)


@router.get("/series", response_model=SeriesListRead, responses={422: _ERRORS[422], 503: _ERRORS[503]},
            dependencies=[Read])
def list_series(
    rt: RuntimeDep,
    prefix: Annotated[str | None, Query(max_length=TICKER_MAX_LENGTH, pattern=rf"^[{TICKER_CHARACTERS}]*$",
                                        description="tickers starting with this (any case)")] = None,
    after: Annotated[str | None, Query(max_length=TICKER_MAX_LENGTH, description="the previous page's `next`")] = None,
    limit: Annotated[int, Query(ge=1, le=series.SERIES_LIST_MAX,
                                description="tickers per page")] = series.SERIES_LIST_DEFAULT,
) -> SeriesListRead:
    """Tickers by symbol with their row count and date range, a page at a time (`total`, and `next` for ?after=)."""
    return series.read_series_list(rt, prefix=prefix, after=after, limit=limit)


@router.patch("/series/{ticker}", response_model=SeriesPatchRead, dependencies=[Write],
              responses={404: _ERRORS[404], 422: _ERRORS[422], 503: _ERRORS[503]})
def patch_series(ticker: PathTicker, patch: SeriesPatch, rt: RuntimeDep) -> SeriesPatchRead:
    """Change a series' calendar; the answer has the warnings the new calendar gives for the stored prices."""
    return series.change_calendar(rt, symbol=ticker, calendar=patch.calendar)


@router.get("/series/{ticker}", response_model=SeriesRead, dependencies=[Read], responses={
    **{code: _ERRORS[code] for code in (404, 422, 503)},  # a read: no body, no stored state to conflict with
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "Prices, ascending"}})
def get_series(
    ticker: PathTicker,
    request: Request,
    rt: RuntimeDep,
    settings: SettingsDep,
    start: Annotated[QueryDate | None, Query(description="first date (in the calendar's zone), YYYY-MM-DD")] = None,
    end: Annotated[QueryDate | None, Query(description="last date (in the calendar's zone), YYYY-MM-DD")] = None,
    limit: Annotated[int | None, Query(ge=1, description="the latest N points (default 10,000; at most 100,000)")] = None,
):
    """Prices of one ticker, ascending; `Accept: text/csv` returns CSV."""
    if limit is not None and limit > settings.series_page_max:
        raise InvalidInput(f"limit={limit}: must be at most {settings.series_page_max}",
                           details={"field": "limit", "value": limit})
    read = series.read_series(rt, symbol=ticker, start=_date("start", start), end=_date("end", end),
                              limit=limit or settings.series_page_default)
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("date", *PRICE_COLUMNS))
        for p in read.points:
            when = p.date.isoformat() if p.time is None else p.time.isoformat()
            writer.writerow((when, *("" if getattr(p, c) is None else repr(getattr(p, c)) for c in PRICE_COLUMNS)))
        return Response(out.getvalue(), media_type="text/csv")
    return read


def _date(field: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}={value!r}: {exc}", details={"field": field, "value": value}) from None


@router.delete("/series/{ticker}", status_code=204, dependencies=[Write],
               responses={404: _ERRORS[404], 422: _ERRORS[422], 503: _ERRORS[503]})
def delete_series(ticker: PathTicker, rt: RuntimeDep) -> Response:
    """Remove a ticker and everything that belongs to it: prices, jobs, models and checkpoint files."""
    series.delete_ticker(rt, symbol=ticker)
    return Response(status_code=204)
