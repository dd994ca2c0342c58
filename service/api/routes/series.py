"""Upload, list, read and delete price series."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from service import accuracy, registry, retraining
from service import series as series_domain
from service.api.routes.jobs import enqueue
from service.api.auth import Read, Write
from service.api.deps import SessionDep, SettingsDep
from service.errors import InvalidInput
from service.schemas import (
    BulkUploadRead,
    ErrorResponse,
    PathTicker,
    PricePointRead,
    SeriesListRead,
    SeriesRead,
    SeriesSummaryRead,
    UploadReportRead,
)
from service.tables import PRICE_COLUMNS
from service.uploads import ParsedUpload, normalise_ticker, parse_csv, parse_date, parse_points

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"

router = APIRouter(tags=["series"])

_ERRORS = {
    404: {"model": ErrorResponse, "description": "Unknown ticker"},
    413: {"model": ErrorResponse, "description": "Body larger than max_upload_bytes"},
    422: {"model": ErrorResponse, "description": "Invalid input; details name each bad row"},
    503: {"model": ErrorResponse, "description": "Database unavailable; retry"},
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"},
                         "example": "date,close\n2024-01-02,101.5\n2024-01-03,102.25\n"},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
            "application/json": {"schema": {"type": "object", "required": ["points"], "properties": {
                "points": {"type": "array", "items": {"type": "object", "required": ["date", "close"], "properties": {
                    "date": {"type": "string", "format": "date"}, "close": {"type": "number"},
                    "open": {"type": ["number", "null"]}, "high": {"type": ["number", "null"]},
                    "low": {"type": ["number", "null"]}, "adj_close": {"type": ["number", "null"]},
                    "volume": {"type": ["integer", "null"]}}}}}}},
        },
    }
}
ModeQuery = Annotated[Literal["merge", "replace"], Query(description="merge: insert and update; replace: the upload becomes the whole series")]


async def _read_body(request: Request) -> tuple[str, bytes | object]:
    """Return ("csv", bytes) or ("json", parsed object) from a CSV, multipart or JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_part_size=request.app.state.settings.max_upload_bytes) as form:
            files = [v for v in form.values() if hasattr(v, "read")]
            if not files:
                raise InvalidInput("multipart upload has no file part; send the CSV as a field named 'file'",
                                   details={"field": "file"})
            return "csv", await files[0].read()
    body = await request.body()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return "json", json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"body is not valid JSON: {exc}", details={"field": "body"}) from None
    return "csv", body


def _parse_one(kind: str, body, max_rows: int) -> ParsedUpload:
    if kind == "json":
        return parse_points(body, max_rows=max_rows)
    uploads = parse_csv(body, max_rows=max_rows)
    return uploads[""]


@router.post("/series/{ticker}", response_model=UploadReportRead, responses=_ERRORS, openapi_extra=_UPLOAD_BODY,
             dependencies=[Write])
async def upload_series(ticker: PathTicker, request: Request, settings: SettingsDep, mode: ModeQuery = "merge") -> UploadReportRead:
    """Upload daily prices for one ticker (CSV, multipart file or JSON points). All or nothing."""
    symbol = normalise_ticker(ticker)
    kind, body = await _read_body(request)

    def work() -> UploadReportRead:
        upload = _parse_one(kind, body, settings.max_upload_rows)
        with request.app.state.sessionmaker() as session:
            report = series_domain.store_prices(session, symbol=symbol, upload=upload, mode=mode)
            if report.rows_inserted or report.rows_updated:
                accuracy.resolve_forecasts(session, ticker_id=report.ticker_id)
            retrain = retraining.maybe_retrain(session, settings=settings, symbol=symbol) if report.revision else None
            session.commit()
            if retrain is not None:
                enqueue(request, session, [retrain])
                report.warnings.append(f"queued retraining job {retrain.id}: the active model is "
                                       f">= PRICECAST_RETRAIN_AFTER={settings.retrain_after} points behind")
        count_rows(request, [report])
        return UploadReportRead.model_validate(report)

    return await run_in_threadpool(work)


def count_rows(request: Request, reports: list) -> None:
    counter = request.app.state.metrics.upload_rows
    for r in reports:
        for outcome in ("inserted", "updated", "unchanged", "deleted"):
            counter.labels(outcome).inc(getattr(r, f"rows_{outcome}"))


@router.post("/series", response_model=BulkUploadRead, responses=_ERRORS, dependencies=[Write], openapi_extra={"requestBody": {
    "required": True, "content": {"text/csv": {"schema": {"type": "string"},
                                               "example": "ticker,date,close\nAAA,2024-01-02,10\nBBB,2024-01-02,20\n"}}}})
async def upload_many(request: Request, settings: SettingsDep, mode: ModeQuery = "merge") -> BulkUploadRead:
    """Bulk import: one long-format CSV with a `ticker` column; all tickers or none are stored."""
    kind, body = await _read_body(request)
    if kind != "csv":
        raise InvalidInput("bulk import takes a CSV with a ticker column", details={"field": "body"})

    def work() -> BulkUploadRead:
        uploads = parse_csv(body, max_rows=settings.max_upload_rows, with_ticker=True)
        with request.app.state.sessionmaker() as session:
            reports = [series_domain.store_prices(session, symbol=t, upload=u, mode=mode)
                       for t, u in sorted(uploads.items())]
            for report in reports:
                accuracy.resolve_forecasts(session, ticker_id=report.ticker_id)
            session.commit()
        count_rows(request, reports)
        return BulkUploadRead(results=[UploadReportRead.model_validate(r) for r in reports])

    return await run_in_threadpool(work)


@router.get("/series", response_model=SeriesListRead, responses={503: _ERRORS[503]}, dependencies=[Read])
def list_series(session: SessionDep) -> SeriesListRead:
    """Every ticker with its row count and date range."""
    return SeriesListRead(series=[SeriesSummaryRead.model_validate(s) for s in series_domain.list_series(session)])


@router.get("/series/{ticker}", response_model=SeriesRead, dependencies=[Read], responses={
    **_ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "Prices, ascending"}})
def get_series(
    ticker: PathTicker,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[str | None, Query(pattern=DATE_PATTERN, description="first date, YYYY-MM-DD")] = None,
    end: Annotated[str | None, Query(pattern=DATE_PATTERN, description="last date, YYYY-MM-DD")] = None,
    limit: Annotated[int | None, Query(ge=1, description="the latest N points (default 10,000; at most 100,000)")] = None,
):
    """Prices of one ticker, ascending; `Accept: text/csv` returns CSV."""
    symbol = normalise_ticker(ticker)
    if limit is not None and limit > settings.series_page_max:
        raise InvalidInput(f"limit={limit}: must be at most {settings.series_page_max}",
                           details={"field": "limit", "value": limit})
    points = series_domain.list_prices(session, symbol=symbol, start=_date("start", start), end=_date("end", end),
                                       limit=limit or settings.series_page_default)
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("date", *PRICE_COLUMNS))
        for p in points:
            writer.writerow((p.date.isoformat(), *("" if getattr(p, c) is None else repr(getattr(p, c)) for c in PRICE_COLUMNS)))
        return Response(out.getvalue(), media_type="text/csv")
    return SeriesRead(ticker=symbol, points=[PricePointRead.model_validate(p) for p in points])


def _date(field: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}={value!r}: {exc}", details={"field": field, "value": value}) from None


@router.delete("/series/{ticker}", status_code=204, dependencies=[Write],
               responses={404: _ERRORS[404], 422: _ERRORS[422], 503: _ERRORS[503]})
def delete_series(ticker: PathTicker, session: SessionDep, settings: SettingsDep) -> Response:
    """Remove a ticker and everything that belongs to it: prices, jobs, models and checkpoint files."""
    symbol = normalise_ticker(ticker)
    registry.delete_checkpoints(session, settings=settings, ticker_id=series_domain.get_ticker(session, symbol=symbol).id)
    series_domain.delete_series(session, symbol=symbol)
    session.commit()
    return Response(status_code=204)
