"""The web page at `/` and its static assets, shipped inside the package (nothing from a CDN).

Assets are served under `/static/<version>/...`, where the version is a hash of every file in
service/static: a versioned URL never changes content, so browsers may keep it for a year,
while `/` itself is revalidated on every load (no-cache plus an ETag) and so always names the
current version. The page's relative module imports stay inside one version.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from service.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# The page loads nothing from elsewhere; this makes a stray CDN link fail loudly in the browser.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


@cache
def asset_version() -> str:
    """Hash every static file (names and bytes): the version in asset URLs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def _index() -> tuple[str, str]:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("{{version}}", asset_version())
    return html, '"' + hashlib.sha256(html.encode()).hexdigest()[:16] + '"'


@router.api_route("/", methods=["GET", "HEAD"])
def index(request: Request) -> Response:
    """The single-page front end."""
    html, etag = _index()
    headers = {"Cache-Control": "no-cache", "ETag": etag, "Content-Security-Policy": CSP,
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)


@router.api_route("/static/{version}/{path:path}", methods=["GET", "HEAD"])
def static_file(version: str, path: str) -> FileResponse:
    """A static asset; cached for a year when the URL names the current version."""
    file = (STATIC_DIR / path).resolve()
    if not file.is_relative_to(STATIC_DIR) or not file.is_file() or file.name == "index.html":
        raise NotFound(f"static file {path!r} not found")
    cache_control = IMMUTABLE if version == asset_version() else "no-cache"
    return FileResponse(file, headers={"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"})
