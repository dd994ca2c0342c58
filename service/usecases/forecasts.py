"""Forecast: POST /forecast and `pricecast forecast` (one ticker, a batch, or inline prices), and live accuracy.

Every answer is ForecastRead (one ticker) or BatchForecastRead (a batch), serialised by those
schemas: the declared response model is the truth. What is cached is that serialised JSON,
under (ticker id, revision, version, levels); see `cached_answer` for why the hot path hands
out bytes rather than objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import TypeAdapter

from service.accuracy import accuracy_report
from service.errors import InvalidInput, PricecastError
from service.forecasting.forecasts import Forecast, forecast_batch, forecast_inline
from service.forecasting.levels import DEFAULT_LEVELS
from service.forecasting.targets import revision_stamps
from service.schemas.errors import TickerError
from service.schemas.forecasts import AccuracyRead, ForecastRead, ForecastRequest
from service.tickers import is_ticker, normalise_ticker
from service.uploads import parse_points
from service.usecases.runtime import Runtime

_ONE = TypeAdapter(ForecastRead)
_ERRORS = TypeAdapter(list[TickerError])


@dataclass(frozen=True)
class Answer:
    """The JSON body of a forecast answer, and how it was made (for metrics and exit codes)."""

    body: bytes
    hits: int = 0
    misses: int = 0
    errors: int = 0

    def data(self) -> dict:
        return json.loads(self.body)


def _key(stamp: tuple[int, int], request: ForecastRequest) -> tuple:
    return (*stamp, request.model_version, tuple(request.levels or DEFAULT_LEVELS))


def _serialise(forecast: Forecast) -> bytes:
    """A forecast as the API shows it: ForecastRead keeps only the fields it declares."""
    return _ONE.dump_json(ForecastRead.model_validate(forecast))


def _batch_body(parts: list[bytes], errors: list[TickerError]) -> bytes:
    """BatchForecastRead from forecasts already serialised by ForecastRead (joined, not parsed again)."""
    return b'{"forecasts":[' + b",".join(parts) + b'],"errors":' + _ERRORS.dump_json(errors) + b"}"


def cached_answer(rt: Runtime, request: ForecastRequest) -> Answer | None:
    """The hot path: the whole answer from the cache after one indexed query, or None.

    Why bytes: a repeat forecast is the service's most frequent request, and validating and
    serialising a ForecastRead again for each one measured about 0.1 ms, close to half of a
    whole cached request (bench/serve.py: about 0.23 ms). The bytes were made by ForecastRead
    itself when the answer was computed (`_serialise`), so what is served is still exactly the
    declared schema. Cheap enough for the event loop.
    """
    if request.prices is not None:
        return None
    if request.ticker is not None:
        found, misses = _lookup(rt, request, [request.ticker])
        return Answer(found[request.ticker], hits=1) if not misses else None
    symbols = list(dict.fromkeys(request.tickers))
    if len(symbols) > rt.settings.max_batch_tickers or not all(map(is_ticker, symbols)):
        return None  # the full path names the problem
    symbols = [s.upper() for s in symbols]
    found, misses = _lookup(rt, request, symbols)
    if misses or len(set(symbols)) != len(symbols):
        return None
    return Answer(_batch_body([found[s] for s in symbols], []), hits=len(symbols))


def forecast(rt: Runtime, request: ForecastRequest) -> Answer:
    """Forecast the next step of one ticker (raises its error) or many (errors are entries); never trains."""
    levels = tuple(request.levels or DEFAULT_LEVELS)
    if request.ticker is not None and request.prices is not None:
        upload = parse_points({"points": request.prices}, max_rows=rt.settings.max_upload_rows)
        with rt.reading() as session:
            one = forecast_inline(session, settings=rt.settings, caches=rt.caches, symbol=request.ticker,
                                  upload=upload, version=request.model_version, levels=levels)
        return Answer(_serialise(one), misses=1)
    if request.ticker is not None:
        results, hits, misses = _forecast_many(rt, request, [request.ticker])
        out = results[request.ticker]
        if isinstance(out, PricecastError):
            raise out
        return Answer(out, hits=hits, misses=misses)
    if len(request.tickers) > rt.settings.max_batch_tickers:
        raise InvalidInput(f"tickers: {len(request.tickers)} given, at most PRICECAST_MAX_BATCH_TICKERS="
                           f"{rt.settings.max_batch_tickers}", details={"field": "tickers"})
    errors, symbols = [], []
    for raw in dict.fromkeys(request.tickers):
        try:
            symbols.append(normalise_ticker(raw))
        except PricecastError as exc:
            errors.append(TickerError(ticker=str(raw), code=exc.code, message=exc.message))
    symbols = list(dict.fromkeys(symbols))
    results, hits, misses = _forecast_many(rt, request, symbols) if symbols else ({}, 0, 0)
    parts = []
    for symbol in symbols:
        out = results[symbol]
        if isinstance(out, PricecastError):
            errors.append(TickerError(ticker=symbol, code=out.code, message=out.message))
        else:
            parts.append(out)
    return Answer(_batch_body(parts, errors), hits=hits, misses=misses, errors=len(errors))


def _lookup(rt: Runtime, request: ForecastRequest, symbols: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """Cached answers whose ticker revision still matches (one indexed query); return (found, misses)."""
    stamps = revision_stamps(rt.engine, symbols)
    found, misses = {}, []
    for symbol in symbols:
        stamp = stamps.get(symbol)
        body = rt.caches.forecasts.get(_key(stamp, request)) if stamp else None
        if body is None:
            misses.append(symbol)
        else:
            found[symbol] = body
    return found, misses


def _forecast_many(rt: Runtime, request: ForecastRequest,
                   symbols: list[str]) -> tuple[dict[str, bytes | PricecastError], int, int]:
    """Serialised answers from the cache where the revision still matches; the rest computed in one batch."""
    found, misses = _lookup(rt, request, symbols)
    results: dict[str, bytes | PricecastError] = dict(found)
    if misses:
        with rt.unit_of_work() as session:  # served forecasts are recorded for live accuracy
            computed = forecast_batch(session, settings=rt.settings, caches=rt.caches, symbols=misses,
                                      version=request.model_version, levels=tuple(request.levels or DEFAULT_LEVELS))
        for symbol, out in computed.items():
            if isinstance(out, Forecast):
                body = _serialise(out)
                rt.caches.forecasts.put(_key((out.ticker_id, out.revision), request), body)
                results[symbol] = body
            else:
                results[symbol] = out
    return results, len(found), len(misses)


def accuracy(rt: Runtime, *, symbol: str) -> AccuracyRead:
    """Live accuracy of served forecasts, per model version and overall, next to persistence."""
    with rt.reading() as session:
        return AccuracyRead(**accuracy_report(session, symbol=symbol))
