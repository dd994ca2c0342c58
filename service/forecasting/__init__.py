"""Next-step forecasts, one noun per module.

levels.py     the interval-levels rule (request schema, CLI and GET /config read it)
caches.py     loaded models and serialised answers: the bounded LRU maps, warming at start
targets.py    what a forecast reads: each ticker's model version and its latest prices
forecasts.py  the forecast itself: batches with one price query, inline prices, served-forecast records

Answers are domain objects (`Forecast`); the use case (service/usecases/forecasts.py) turns them
into the API's ForecastRead and caches the serialised answer under the ticker's revision.
"""
