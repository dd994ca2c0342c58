"""Logging: one JSON object per line (or readable text on a terminal), with request and job fields."""

from __future__ import annotations

import json
import logging
import re
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


# Control characters (C0, DEL, C1) and Unicode line and paragraph separators: a ticker, path or
# message holding one must not start a line of its own in a text log, nor move the cursor.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """Control characters as visible escapes (\\n, \\x1b, \\u2028): one record, one line."""
    return _CONTROL.sub(lambda m: _NAMED.get(m[0]) or (f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else
                                                        f"\\u{ord(m[0]):04x}"), text)


class TextFormatter(logging.Formatter):
    """Readable lines; every field escaped, so each record starts one line at column 0.

    A stack trace keeps its lines, each indented by two spaces ("  | ..."): it cannot pass for
    a record of its own either.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = escape(f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}")
        extra = " ".join(f"{k}={escape(str(getattr(record, k)))}" for k in EXTRA_FIELDS if hasattr(record, k))
        if extra:
            line = f"{line} {extra}"
        trace = self.formatException(record.exc_info) if record.exc_info else ""
        if record.stack_info:
            trace = f"{trace}\n{self.formatStack(record.stack_info)}".strip("\n")
        if trace:
            line += "".join(f"\n  | {escape(t)}" for t in trace.splitlines())
        return line


def configure_logging(settings: Settings, stream=None) -> None:
    """Send every logger (ours, uvicorn's, huey's) through one handler in the chosen format."""
    stream = stream or sys.stderr
    use_json = settings.log_format == "json" or (settings.log_format == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
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
