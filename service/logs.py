"""Logging: one JSON object per line (or readable text on a terminal), with request and job fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from service.settings import Settings

EXTRA_FIELDS = ("request_id", "method", "route", "path", "status", "duration_ms", "client", "principal",
                "job_id", "ticker", "attempt", "worker_id", "event", "version")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: getattr(record, k) for k in EXTRA_FIELDS if hasattr(record, k)})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)}" for k in EXTRA_FIELDS if hasattr(record, k))
        return f"{line} {extra}" if extra else line


def configure_logging(settings: Settings, stream=None) -> None:
    """Send every logger (ours, uvicorn's, huey's) through one handler in the chosen format."""
    stream = stream or sys.stderr
    use_json = settings.log_format == "json" or (settings.log_format == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else
                         TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "huey", "huey.consumer"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # pricecast logs one line per request itself (with the request id); uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("huey").setLevel(max(logging.INFO, root.level))
