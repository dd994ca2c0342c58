"""POST /forecast and live accuracy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.api.auth import Read
from service.api.deps import RuntimeDep
from service.api.params import PathTicker
from service.schemas.errors import ErrorResponse
from service.schemas.forecasts import AccuracyRead, BatchForecastRead, ForecastRead, ForecastRequest
from service.usecases import forecasts

router = APIRouter(tags=["forecast"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 503)}


@router.post("/forecast", response_model=ForecastRead | BatchForecastRead, responses=_E, dependencies=[Read])
async def forecast(body: Annotated[ForecastRequest, Body()], request: Request, rt: RuntimeDep) -> Response:
    """Forecast the next step of one ticker (`ticker`) or many (`tickers`); never trains.

    Answers are cached under (ticker revision, version, levels): a repeat costs one indexed
    query, run here on the event loop; everything else runs in the thread pool. The body is
    ForecastRead or BatchForecastRead, serialised by the use case (see forecasts.cached_answer).
    """
    answer = forecasts.cached_answer(rt, body) or await run_in_threadpool(forecasts.forecast, rt, body)
    counter = request.app.state.metrics.forecasts
    if answer.hits:
        counter.labels("hit").inc(answer.hits)
    if answer.misses:
        counter.labels("miss").inc(answer.misses)
    return Response(answer.body, media_type="application/json")


@router.get("/series/{ticker}/accuracy", response_model=AccuracyRead, responses=_E, dependencies=[Read])
def get_accuracy(ticker: PathTicker, rt: RuntimeDep) -> AccuracyRead:
    """Live accuracy of served forecasts, per model version and overall, next to persistence."""
    return forecasts.accuracy(rt, symbol=ticker)
