"""Pure ASGI middleware: request ids, the access log, and the bounds on every request body.

Order (outermost first, as create_app adds them): RequestIdMiddleware, AccessLogMiddleware,
auth.AuthMiddleware (the key, before any body byte is read), BodyGuardMiddleware, GZip.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import anyio
import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.api.protocol import EDGE_STATUS
from service.errors import InvalidInput, PayloadTooLarge, PricecastError

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CLIENT_CLOSED = 499  # nginx's status for "the client went away before the answer": never sent, only logged


class RequestIdMiddleware:
    """Take a sane incoming X-Request-ID or make one; store it in scope state; echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyGuardMiddleware:
    """Bound each request body: its size (413) and, for JSON, its nesting depth (422).

    A violation is answered here, with the usual error shape, and the app is told the client
    left (http.disconnect); whatever it sends afterwards is dropped. Raising from `receive`
    instead would reach FastAPI's body parsing, which turns any error into "error parsing the
    body". A body over the limit by Content-Length is refused before a byte of it is read. (The
    time a client may take to send its body is bounded by the server: api/protocol.py.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_bytes, self.max_json_depth = max_bytes, max_json_depth

    def _too_large(self, size: Any) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body of {size} bytes exceeds PRICECAST_MAX_UPLOAD_BYTES={self.max_bytes}",
                               details={"limit": self.max_bytes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, media = None, b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                media = value.split(b";")[0].strip().lower()
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _answer(scope, receive, send, self._too_large(int(length)))
            return
        json_body = media == b"application/json" or media.endswith(b"+json")
        seen, chunks, done = 0, [], False
        started = answered = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the client already has its answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def fail(exc: PricecastError) -> Message:
            nonlocal answered
            if not started and not answered:
                answered = True
                await _answer(scope, receive, send, exc)
            return {"type": "http.disconnect"}

        async def guarded_receive() -> Message:
            nonlocal seen, done
            if answered:
                return {"type": "http.disconnect"}
            if done:  # the body is in: later reads only wait for a disconnect
                return await receive()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                body = message.get("body", b"")
                seen += len(body)
                if seen > self.max_bytes:
                    return await fail(self._too_large(f"more than {self.max_bytes}"))
                more = message.get("more_body", False)
                if not json_body:
                    done = not more
                    return message
                # JSON is parsed whole anyway: gather it, check its depth, then hand it on in one piece.
                chunks.append(body)
                if more:
                    continue
                done = True
                whole = b"".join(chunks)
                chunks.clear()
                if len(whole) <= 1 << 16:
                    too_deep = json_too_deep(whole, self.max_json_depth)
                else:  # about 15 ms a MB: not on the event loop
                    too_deep = await anyio.to_thread.run_sync(json_too_deep, whole, self.max_json_depth)
                if too_deep:
                    return await fail(InvalidInput(
                        f"body: JSON nested deeper than {self.max_json_depth} levels (PRICECAST_MAX_JSON_DEPTH)",
                        details={"field": "body", "limit": self.max_json_depth}))
                return {"type": "http.request", "body": whole, "more_body": False}

        await self.app(scope, guarded_receive, guarded_send)


async def _answer(scope: Scope, receive: Receive, send: Send, exc: PricecastError) -> None:
    request_id = scope.get("state", {}).get("request_id", "-")
    response = error_response(request_id, exc.status_code, exc.code, exc.message, exc.details, exc.headers)
    await response(scope, receive, send)


_ESCAPED = re.compile(rb"\\.", re.S)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP = np.zeros(256, np.int32)
_STEP[[ord("["), ord("{")]], _STEP[[ord("]"), ord("}")]] = 1, -1


def json_too_deep(data: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (linear time, vectorised)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    # A prefix is judged exactly (strings and escapes are tracked from the start), and a deep
    # body usually opens deep: look at the first 64 KiB alone before the whole of a large one.
    return (len(data) > 1 << 16 and _too_deep(data[:1 << 16], limit)) or _too_deep(data, limit)


def _too_deep(data: bytes, limit: int) -> bool:
    if b"\\" in data:
        data = _ESCAPED.sub(b"", data)  # escapes first: \" does not end a string
    data = data.translate(None, _NOT_STRUCTURE)  # brackets and quotes only
    if b'"' in data:
        data = b"".join(data.split(b'"')[::2])  # drop what lies between quotes: now brackets only
    codes = np.frombuffer(data, np.uint8)
    depth = 0
    for start in range(0, len(codes), 1 << 22):
        running = np.cumsum(_STEP[codes[start:start + (1 << 22)]]) + depth
        if running.max() > limit:
            return True
        depth = int(running[-1])
    return False


class AccessLogMiddleware:
    """One log line and one metrics observation per request: id, route, status, duration.

    A client that leaves before its answer is logged once, as 499, without a stack trace,
    whatever the app made of the missing body.
    """

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger("pricecast.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = gone = False

        async def send_status(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        async def watch_receive() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not started:
                gone = True
            return message

        try:
            await self.app(scope, watch_receive, send_status)
        except Exception:
            if not gone:
                raise
        finally:
            seconds = time.perf_counter() - start
            state = scope.get("state", {})
            if EDGE_STATUS in state:  # the server answered for the app (a body that came too slowly)
                status, gone = state[EDGE_STATUS], False
            elif gone:
                status = CLIENT_CLOSED
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, seconds)
            self.log.info("%s %s %s %.1fms%s", scope["method"], scope["path"], status, seconds * 1000,
                          " (client disconnected)" if gone else "", extra={
                "request_id": state.get("request_id"), "method": scope["method"], "route": route,
                "path": scope["path"], "status": status, "duration_ms": round(seconds * 1000, 3),
                "client": (scope.get("client") or ("-",))[0], "principal": state.get("principal")})
