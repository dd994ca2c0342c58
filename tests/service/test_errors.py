"""Error codes and HTTP statuses: one class per code, and the table is derived from the classes."""

from __future__ import annotations

from service.errors import ERROR_CODES, PricecastError, QueueFull, RateLimited, code_for_status


def test_every_code_has_one_class_and_status():
    assert ERROR_CODES["invalid_input"] == 422 and ERROR_CODES["unsupported_media_type"] == 415
    assert ERROR_CODES["queue_full"] == ERROR_CODES["rate_limited"] == 429 and ERROR_CODES["internal"] == 500
    assert len(ERROR_CODES) == len({c for c in _classes()})


def test_bare_statuses_map_to_codes():
    assert [code_for_status(s) for s in (400, 404, 405, 413, 415, 422, 429, 503, 418, 502)] == [
        "invalid_input", "not_found", "method_not_allowed", "payload_too_large", "unsupported_media_type",
        "invalid_input", RateLimited.code, "unavailable", "invalid_input", "internal"]
    assert QueueFull.code != code_for_status(429)


def _classes():
    todo, out = [PricecastError], []
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        out += [cls.code] if cls is not PricecastError else []
    return out
