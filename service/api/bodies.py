"""Upload bodies: which content types are accepted, and reading them within the size limit."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from service.errors import InvalidInput, UnsupportedMediaType
from service.usecases.ingest import BodyKind

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "")  # "" is no content-type at all
ACCEPTED = "CSV (text/csv), a multipart/form-data file, or JSON points (application/json)"


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def kind_of(media_type: str, *, json_ok: bool = True) -> BodyKind | None:
    """"csv", "json", or None for multipart; anything else is 415 (checked before the body is read)."""
    if media_type == "multipart/form-data":
        return None
    if json_ok and (media_type == "application/json" or media_type.endswith("+json")):
        return "json"
    if media_type in CSV_TYPES:
        return "csv"
    accepted = ACCEPTED if json_ok else "a CSV with a ticker column (text/csv) or a multipart/form-data file"
    hint = " (curl --data-binary sends it unless you add -H 'content-type: text/csv')" \
        if media_type == "application/x-www-form-urlencoded" else ""
    raise UnsupportedMediaType(f"content-type {media_type!r} is not accepted here{hint}; send {accepted}",
                               details={"content_type": media_type})


async def read_body(request: Request, *, json_ok: bool = True) -> tuple[BodyKind, bytes | Any]:
    """Return ("csv", bytes) or ("json", the parsed object) from a CSV, multipart or JSON body."""
    media_type = content_type(request)
    kind = kind_of(media_type, json_ok=json_ok)
    if kind is None:
        async with request.form(max_part_size=request.app.state.settings.max_upload_bytes) as form:
            files = [v for v in form.values() if hasattr(v, "read")]
            if files:
                return "csv", await files[0].read()
            text = form.get("file")  # the CSV as a plain field named file (what the OpenAPI document shows)
            if isinstance(text, str):
                return "csv", text.encode()
            raise InvalidInput("multipart upload has no file part; send the CSV as a field named 'file'",
                               details={"field": "file"})
    body = await request.body()
    if kind == "json":
        try:
            return "json", json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"body is not valid JSON: {exc}", details={"field": "body"}) from None
    return "csv", body
