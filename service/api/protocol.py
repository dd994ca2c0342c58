"""The HTTP/1.1 protocol `pricecast serve` runs: uvicorn's httptools protocol plus the limits it lacks.

uvicorn bounds neither the size of a request's headers (httptools buffers a header line of any
length), nor the time a client may take to send them, nor the number of open connections
(`limit_concurrency` counts idle connections too, so a flood of idle ones turns every new
request, health checks included, into a 503). This protocol adds, per connection:

- request line + headers at most `max_header_bytes` (431, then close), counted as bytes arrive,
  so a 100 MB header costs at most one read beyond the limit;
- request line + headers within `header_timeout` seconds of the connection opening or of the
  first byte of a keep-alive request (408, then close; a silent connection is just closed);
- the body within `body_timeout` seconds of the headers (408 if the app has not answered yet,
  then close; the app sees the client leave and the access log records 408); this also ends a
  body nobody reads, e.g. one still arriving after an early 401;

and per server at most `max_connections` open connections: at the cap, a new connection evicts
the one that has waited longest on its client (headers not finished, body not finished, or
idle between requests). A connection whose request the app is working on is never evicted; if
every connection is such, the new one gets a 503. So a slow-client flood churns among itself,
file descriptors stay below the process limit, and a health check, which sends its request at
once, is answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("pricecast.edge")
FD_RESERVE = 256  # descriptors kept for the database pool, the queue, checkpoints, logs and children


@dataclass(frozen=True)
class EdgeLimits:
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000


@dataclass
class EdgeState:
    """One server's connection table and counters (one server per process)."""

    limits: EdgeLimits
    waiting: OrderedDict[Any, None] = field(default_factory=OrderedDict)  # oldest first
    dropped: Counter[str] = field(default_factory=Counter)
    open: int = 0


# The state of the server running in this process, read by /metrics (api.metrics.EdgeCollector).
current: EdgeState | None = None


def fd_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_cap(wanted: int) -> int:
    """The connection cap that fits under the file descriptor limit (with FD_RESERVE to spare)."""
    return max(16, min(wanted, fd_limit() - FD_RESERVE))


EDGE_STATUS = "pricecast.edge_status"  # scope["state"] key: the status the edge answered in the app's stead


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None, *,
           request_id: str | None = None) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message, "details": details},
                       "request_id": request_id}).encode()
    return b"".join([STATUS_LINE[status], b"content-type: application/json\r\n", b"connection: close\r\n",
                     b"content-length: %d\r\n\r\n" % len(body), body])


class EdgeProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header size and time limits, a body backstop and the connection cap."""

    state: EdgeState  # set on the subclass that make_protocol builds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_pending = False  # headers in, body not yet complete
        self._closed = False

    # Connection table
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        state = self.state
        state.open += 1
        state.waiting[self] = None
        self._header_timer = self.loop.call_later(state.limits.header_timeout, self._header_timeout)
        while state.open > state.limits.max_connections:
            victim = next((c for c in state.waiting if c is not self), None)
            if victim is None:
                state.dropped["over_capacity"] += 1
                self._reject(503, "unavailable", "too many open connections; retry shortly")
                return
            state.dropped["evicted"] += 1
            victim._drop()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed:
            self._closed = True
            self.state.open -= 1
        self.state.waiting.pop(self, None)
        self._cancel_timers()
        super().connection_lost(exc)

    def _drop(self) -> None:
        """Close this connection now (evicted): it leaves the table at once, not when the loop gets to it."""
        self.state.waiting.pop(self, None)
        if not self._closed:
            self._closed = True
            self.state.open -= 1
        self._cancel_timers()
        self.transport.close()

    def _reject(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        """Answer `status` outside any request cycle, then close."""
        if self.transport.is_closing():
            return
        self.transport.write(_error(status, code, message, details))
        self._drop()

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    # Headers: size and time
    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._in_headers:
            return
        self.state.dropped["header_timeout"] += 1
        if self._header_bytes:
            self._reject(408, "request_timeout", f"request headers not received within "
                         f"{self.state.limits.header_timeout:g} s (PRICECAST_HEADER_TIMEOUT)")
        else:
            self._drop()

    def _headers_too_large(self, size: int | str) -> None:
        self.state.dropped["header_too_large"] += 1
        limit = self.state.limits.max_header_bytes
        self._reject(431, "header_too_large", f"request line and headers of {size} bytes exceed "
                     f"PRICECAST_MAX_HEADER_BYTES={limit}", {"limit": limit})

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._header_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if not self.transport.is_closing():  # not one of our own rejections
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        # Timers only for what is still incomplete after this read: a request that arrives whole
        # (the usual case) costs none.
        if self._in_headers:
            if self._header_bytes > self.state.limits.max_header_bytes:
                self._headers_too_large(f"more than {self.state.limits.max_header_bytes}")
            elif self._header_timer is None and self._header_bytes:
                self._header_timer = self.loop.call_later(self.state.limits.header_timeout, self._header_timeout)
        elif self._body_pending and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.state.limits.body_timeout, self._body_timeout)

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        self._in_headers = False
        self._header_bytes = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if size > self.state.limits.max_header_bytes:
            self._headers_too_large(size)
            raise _Stop  # stop the parser: no cycle, no app
        self._body_pending = True
        super().on_headers_complete()

    # Body: time to send it
    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._body_pending:
            return
        self.state.dropped["body_timeout"] += 1
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            state = cycle.scope.setdefault("state", {})
            state[EDGE_STATUS] = 408  # what the access log records, rather than the 499 the app sees
            cycle.disconnected = True  # the app's receive() now says the client left; its answer is dropped
            cycle.message_event.set()
            timeout = self.state.limits.body_timeout
            self.transport.write(_error(408, "request_timeout", f"request body not received within {timeout:g} s "
                                        "(PRICECAST_BODY_TIMEOUT)", {"timeout_s": timeout},
                                        request_id=state.get("request_id")))
        self._drop()

    def on_message_complete(self) -> None:
        self._body_pending = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._in_headers = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.state.waiting.pop(self, None)  # the app works on it: not the client's to waste
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._closed:
            self.state.waiting.pop(self, None)
            self.state.waiting[self] = None


class _Stop(Exception):
    """Raised from a parser callback to stop parsing a rejected request."""


def make_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """An EdgeProtocol class bound to a fresh connection table; pass it as uvicorn's `http`."""
    global current
    current = EdgeState(limits)
    return type("PricecastHttpProtocol", (EdgeProtocol,), {"state": current})
