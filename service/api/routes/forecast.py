"""POST /forecast and live accuracy."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service import accuracy, forecasting
from service.api.deps import SessionDep, SettingsDep
from service.errors import InvalidInput, PricecastError
from service.schemas import AccuracyRead, BatchForecastRead, ErrorResponse, ForecastRead, ForecastRequest
from service.uploads import normalise_ticker, parse_points

router = APIRouter(tags=["forecast"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 503)}


@router.post("/forecast", response_model=ForecastRead | BatchForecastRead, responses=_E)
def forecast(body: ForecastRequest, request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """Forecast the next step of one ticker (`ticker`) or many (`tickers`); never trains."""
    if (body.ticker is None) == (body.tickers is None):
        raise InvalidInput("give exactly one of ticker or tickers", details={"field": "ticker"})
    levels = forecasting.check_levels(body.levels)
    caches = request.app.state.caches
    if body.ticker is not None:
        symbol = normalise_ticker(body.ticker)
        if body.prices is not None:
            upload = parse_points({"points": body.prices}, max_rows=settings.max_upload_rows)
            out = forecasting.forecast_inline(session, settings=settings, caches=caches, symbol=symbol,
                                              upload=upload, version=body.model_version, levels=levels)
        else:
            out = forecasting.forecast_batch(session, settings=settings, caches=caches, symbols=[symbol],
                                             version=body.model_version, levels=levels)[symbol]
            session.commit()
            if isinstance(out, PricecastError):
                raise out
        return JSONResponse(out)
    if body.prices is not None:
        raise InvalidInput("prices can only be sent with a single ticker", details={"field": "prices"})
    if len(body.tickers) > settings.max_batch_tickers:
        raise InvalidInput(f"tickers: {len(body.tickers)} given, at most PRICECAST_MAX_BATCH_TICKERS="
                           f"{settings.max_batch_tickers}", details={"field": "tickers"})
    errors, symbols = [], []
    for raw in dict.fromkeys(body.tickers):
        try:
            symbols.append(normalise_ticker(raw))
        except PricecastError as exc:
            errors.append({"ticker": str(raw), "code": exc.code, "message": exc.message})
    results = forecasting.forecast_batch(session, settings=settings, caches=caches, symbols=symbols,
                                         version=body.model_version, levels=levels) if symbols else {}
    session.commit()
    forecasts = []
    for symbol in symbols:
        out = results[symbol]
        if isinstance(out, PricecastError):
            errors.append({"ticker": symbol, "code": out.code, "message": out.message})
        else:
            forecasts.append(out)
    return JSONResponse({"forecasts": forecasts, "errors": errors})


@router.get("/series/{ticker}/accuracy", response_model=AccuracyRead, responses=_E)
def get_accuracy(ticker: str, session: SessionDep) -> AccuracyRead:
    """Live accuracy of served forecasts, per model version and overall, next to persistence."""
    return AccuracyRead(**accuracy.accuracy_report(session, symbol=normalise_ticker(ticker)))
