"""Domain errors: each class is one error code with its HTTP status, the only map between them.

One handler in service/api/errors.py turns any of them into the error body; HTTP-level failures
(an unknown route, a wrong method) use the same classes through `code_for_status`.
"""

from __future__ import annotations

from typing import Any


class PricecastError(Exception):
    """Base of the errors a client can be told about."""

    status_code = 400
    code = "invalid_input"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class InvalidInput(PricecastError):
    status_code = 422
    code = "invalid_input"


class TooCostly(InvalidInput):
    """Training parameters whose estimated memory or epoch time exceed the configured limits.

    Raised for the whole request (even a bulk one): the parameters are the client's to change."""


class InsufficientData(PricecastError):
    status_code = 422
    code = "insufficient_data"


class Unauthorized(PricecastError):
    status_code = 401
    code = "unauthorized"


class Forbidden(PricecastError):
    status_code = 403
    code = "forbidden"


class NotFound(PricecastError):
    status_code = 404
    code = "not_found"


class MethodNotAllowed(PricecastError):
    status_code = 405
    code = "method_not_allowed"


class NotAcceptable(PricecastError):
    status_code = 406
    code = "not_acceptable"


class Conflict(PricecastError):
    status_code = 409
    code = "conflict"


class SeriesTooShort(PricecastError):
    """The stored series has fewer prices than training (or the model) needs: a state of the
    series, not a fault of the request, so 409 like other conflicts; `details` has the numbers."""

    status_code = 409
    code = "series_too_short"


class PayloadTooLarge(PricecastError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(PricecastError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(PricecastError):
    status_code = 429
    code = "rate_limited"


class QueueFull(PricecastError):
    status_code = 429
    code = "queue_full"


class RequestTimeout(PricecastError):
    """Headers or body not received in time; answered by the HTTP edge (api/protocol.py)."""

    status_code = 408
    code = "request_timeout"


class HeaderTooLarge(PricecastError):
    """Request line and headers over PRICECAST_MAX_HEADER_BYTES; answered by the HTTP edge."""

    status_code = 431
    code = "header_too_large"


class Internal(PricecastError):
    status_code = 500
    code = "internal"


class Unavailable(PricecastError):
    status_code = 503
    code = "unavailable"


def _codes() -> dict[str, int]:
    classes, out = [PricecastError], {}
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        if cls is not PricecastError:
            out[cls.code] = cls.status_code
    return dict(sorted(out.items(), key=lambda kv: (kv[1], kv[0])))


# Every error code a client can see, with its HTTP status (the README's table lists the same).
ERROR_CODES: dict[str, int] = _codes()
# For a bare HTTP status (starlette's own errors): the code it gets. 400 is a body FastAPI could
# not parse, invalid input like any other; 429 without a class of ours is the rate limiter's.
_BY_STATUS = {status: code for code, status in reversed(ERROR_CODES.items())} | {
    400: InvalidInput.code, 422: InvalidInput.code, 429: RateLimited.code}


def code_for_status(status: int) -> str:
    """The error code for an HTTP status without a more specific class."""
    return _BY_STATUS.get(status, InvalidInput.code if status < 500 else Internal.code)
