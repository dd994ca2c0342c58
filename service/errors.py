"""Domain errors. One handler in service/api/errors.py maps each to its status and code."""

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


class InsufficientData(PricecastError):
    status_code = 422
    code = "insufficient_data"


class NotFound(PricecastError):
    status_code = 404
    code = "not_found"


class Conflict(PricecastError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(PricecastError):
    status_code = 413
    code = "payload_too_large"


class Unavailable(PricecastError):
    status_code = 503
    code = "unavailable"


# Every error code a client can see, with its HTTP status (documented in the README).
ERROR_CODES: dict[str, int] = {
    "invalid_input": 422,
    "insufficient_data": 422,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "unavailable": 503,
    "internal": 500,
}


class QueueFull(PricecastError):
    status_code = 429
    code = "queue_full"


ERROR_CODES["queue_full"] = 429


class Unauthorized(PricecastError):
    status_code = 401
    code = "unauthorized"


class Forbidden(PricecastError):
    status_code = 403
    code = "forbidden"


class RateLimited(PricecastError):
    status_code = 429
    code = "rate_limited"


ERROR_CODES.update({"unauthorized": 401, "forbidden": 403, "rate_limited": 429})


# 408 and 431 come from the HTTP edge (api/protocol.py), which answers them in the app's stead.
ERROR_CODES.update({"request_timeout": 408, "header_too_large": 431})
