"""A training run's parameters: validated against the core's bounds, then costed before the run starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from models.errors import ConfigError
from models.lstm import LSTMConfig
from models.train import Cost, estimate_cost
from service.errors import InvalidInput, TooCostly
from service.settings import Settings

TRAIN_FIELDS = ("window", "hidden_size", "layers", "dropout", "epochs", "patience", "batch_size", "lr")
SEED_MAX = 2**31 - 1


def parse_params(params: dict[str, Any] | None) -> tuple[LSTMConfig, int]:
    """Validate training params against the core's bounds; return (config, seed)."""
    params = dict(params or {})
    unknown = sorted(set(params) - {*TRAIN_FIELDS, "seed"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown training parameter; allowed: {', '.join((*TRAIN_FIELDS, 'seed'))}",
                           details={"field": unknown[0]})
    seed = params.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise InvalidInput(f"seed={seed!r}: must be an integer between 0 and {SEED_MAX}",
                           details={"field": "seed", "value": seed})
    try:
        config = LSTMConfig.from_dict(params).validate()
    except ConfigError as exc:
        field = str(exc).split("=", 1)[0]
        raise InvalidInput(str(exc), details={"field": field, "value": params.get(field)}) from None
    return config, seed


# Parameters that drive a run's cost, in the order a message suggests lowering them.
COST_FIELDS = ("batch_size", "window", "hidden_size", "layers")


def _gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def _heaviest(rows: int, config: LSTMConfig, measure: Callable[[Cost], float]) -> str:
    """The cost parameter whose default would lower this estimate the most (the one to name)."""
    base, defaults, best, field = measure(estimate_cost(rows, config)), LSTMConfig(), 1.0, "window"
    for name in COST_FIELDS:
        if getattr(config, name) == getattr(defaults, name):
            continue
        ratio = base / max(measure(estimate_cost(rows, replace(config, **{name: getattr(defaults, name)}))), 1e-12)
        if ratio > best:
            best, field = ratio, name
    return field


def check_cost(settings: Settings, *, symbol: str, rows: int, config: LSTMConfig) -> Cost:
    """Refuse a run whose estimated memory or epoch time exceeds the limits, before it starts.

    The estimate (models.train.estimate_cost) is calibrated against measured runs; the message
    names the parameter whose default would help most, the estimate and the setting it exceeds.
    """
    cost = estimate_cost(rows, config)
    used = ", ".join(f"{k}={getattr(config, k)}" for k in COST_FIELDS)
    if cost.peak_bytes > settings.max_train_memory:
        field = _heaviest(rows, config, lambda c: c.peak_bytes)
        raise TooCostly(
            f"{field}={getattr(config, field)}: training {symbol} ({rows} prices, {used}) would need about "
            f"{_gib(cost.peak_bytes)} of memory, over PRICECAST_MAX_TRAIN_MEMORY={_gib(settings.max_train_memory)}; "
            f"lower {field}", details={"field": field, "value": getattr(config, field), "ticker": symbol,
                                       "estimate_bytes": cost.peak_bytes, "limit_bytes": settings.max_train_memory})
    if cost.seconds_per_epoch_estimate > settings.max_epoch_seconds:
        field = _heaviest(rows, config, lambda c: c.seconds_per_epoch_estimate)
        verb = "raise" if getattr(config, field) < getattr(LSTMConfig(), field) else "lower"
        raise TooCostly(
            f"{field}={getattr(config, field)}: one epoch of {symbol} ({rows} prices, {used}) would take about "
            f"{cost.seconds_per_epoch_estimate:.0f} s, "
            f"over PRICECAST_MAX_EPOCH_SECONDS={settings.max_epoch_seconds:g}; "
            f"{verb} {field}",
            details={"field": field, "value": getattr(config, field), "ticker": symbol,
                     "estimate_seconds": round(cost.seconds_per_epoch_estimate, 1),
                     "limit_seconds": settings.max_epoch_seconds})
    return cost
