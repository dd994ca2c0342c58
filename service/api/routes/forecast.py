"""POST /forecast and live accuracy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service import accuracy, forecasting
from service.api.auth import Read
from service.api.deps import SessionDep
from service.errors import InvalidInput, PricecastError
from service.schemas import (
    AccuracyRead,
    BatchForecastRead,
    ErrorResponse,
    ForecastOne,
    ForecastRead,
    ForecastRequest,
    PathTicker,
)
from service.settings import Settings
from service.uploads import normalise_ticker, parse_points

router = APIRouter(tags=["forecast"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 503)}


@router.post("/forecast", response_model=ForecastRead | BatchForecastRead, responses=_E, dependencies=[Read])
async def forecast(body: Annotated[ForecastRequest, Body()], request: Request) -> Response:
    """Forecast the next step of one ticker (`ticker`) or many (`tickers`); never trains.

    Answers are cached under (ticker revision, version, levels): a repeat costs one indexed
    query, run here on the event loop; everything else runs in the thread pool.
    """
    state = request.app.state
    settings: Settings = state.settings
    levels = forecasting.check_levels(body.levels)
    if isinstance(body, ForecastOne):
        symbol = normalise_ticker(body.ticker)
        if body.prices is None:
            hits, _ = forecasting.cached_answers(state.engine, state.caches, [symbol], body.model_version, levels)
            if hits:
                state.metrics.forecasts.labels("hit").inc()
                return Response(hits[symbol][1], media_type="application/json")
        state.metrics.forecasts.labels("miss").inc()
        return JSONResponse(await run_in_threadpool(_single, state, body, symbol, levels))
    if len(body.tickers) > settings.max_batch_tickers:
        raise InvalidInput(f"tickers: {len(body.tickers)} given, at most PRICECAST_MAX_BATCH_TICKERS="
                           f"{settings.max_batch_tickers}", details={"field": "tickers"})
    errors, symbols = [], []
    for raw in dict.fromkeys(body.tickers):
        try:
            symbols.append(normalise_ticker(raw))
        except PricecastError as exc:
            errors.append({"ticker": str(raw), "code": exc.code, "message": exc.message})
    results: dict = {}
    if symbols:
        hits, misses = forecasting.cached_answers(state.engine, state.caches, symbols, body.model_version, levels)
        results = {s: answer for s, (answer, _) in hits.items()}
        state.metrics.forecasts.labels("hit").inc(len(hits))
        state.metrics.forecasts.labels("miss").inc(len(misses))
        if misses:
            results |= await run_in_threadpool(_batch, state, misses, body.model_version, levels)
    forecasts = []
    for symbol in symbols:
        out = results[symbol]
        if isinstance(out, PricecastError):
            errors.append({"ticker": symbol, "code": out.code, "message": out.message})
        else:
            forecasts.append(out)
    return JSONResponse({"forecasts": forecasts, "errors": errors})


def _single(state, body: ForecastOne, symbol: str, levels: tuple[int, ...]) -> dict:
    with state.sessionmaker() as session:
        if body.prices is not None:
            upload = parse_points({"points": body.prices}, max_rows=state.settings.max_upload_rows)
            return forecasting.forecast_inline(session, settings=state.settings, caches=state.caches, symbol=symbol,
                                               upload=upload, version=body.model_version, levels=levels)
        out = _batch_in(session, state, [symbol], body.model_version, levels)[symbol]
    if isinstance(out, PricecastError):
        raise out
    return out


def _batch(state, symbols: list[str], version: int | None, levels: tuple[int, ...]) -> dict:
    with state.sessionmaker() as session:
        return _batch_in(session, state, symbols, version, levels)


def _batch_in(session, state, symbols: list[str], version: int | None, levels: tuple[int, ...]) -> dict:
    results = forecasting.forecast_batch(session, settings=state.settings, caches=state.caches, symbols=symbols,
                                         version=version, levels=levels)
    session.commit()
    return results


@router.get("/series/{ticker}/accuracy", response_model=AccuracyRead, responses=_E, dependencies=[Read])
def get_accuracy(ticker: PathTicker, session: SessionDep) -> AccuracyRead:
    """Live accuracy of served forecasts, per model version and overall, next to persistence."""
    return AccuracyRead(**accuracy.accuracy_report(session, symbol=normalise_ticker(ticker)))
