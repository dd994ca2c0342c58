"""/docs works offline (Swagger UI served by the service itself), the OpenAPI document states how
keys are sent, and each operation lists only the error answers it can give."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.datastructures import Headers

from service.api import create_app
from service.api.auth import _secret


def test_docs_page_loads_every_asset_from_the_service(client):
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls, "the docs page names its assets"
    assert not re.search(r"https?://", page.text), "a CDN URL leaves /docs blank offline"
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 500, url
    js = next(u for u in urls if u.endswith(".js"))
    assert "SwaggerUIBundle" in client.get(js).text
    assert client.get("/docs/assets/..%2Fpricecast.db").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404  # only the named assets
    assert client.get("/redoc").status_code == 404  # no second, CDN-only viewer


def test_security_schemes_match_what_the_server_reads(client):
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    bearer = next(s for s in schemes.values() if s["type"] == "http")
    header = next(s for s in schemes.values() if s["type"] == "apiKey")
    assert bearer["scheme"] == "bearer" and header["in"] == "header"
    # The server accepts exactly the two ways the document names.
    assert _secret(Headers({"authorization": "Bearer k1"})) == "k1"
    assert _secret(Headers({header["name"]: "k2"})) == "k2"
    names = set(schemes)
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            required = {name for requirement in op["security"] for name in requirement}
            if path in ("/healthz", "/readyz", "/metrics", "/config"):
                assert op["security"] == [], f"{method} {path} is open"
            else:
                assert required == names, f"{method} {path} needs a key"


def test_each_operation_lists_only_answers_it_can_give(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/healthz", "/metrics", "/config"):
        assert set(paths[path]["get"]["responses"]) == {"200", "500"}, path
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "500", "503"}
    for path, operations in paths.items():
        for method, op in operations.items():
            codes, where = set(op["responses"]), f"{method.upper()} {path}"
            takes_input = bool(op.get("parameters") or op.get("requestBody"))
            assert ("422" in codes) == takes_input, f"{where}: 422 only where there is input to reject"
            if op["security"]:
                assert {"401", "429"} <= codes, where
            else:
                assert not {"401", "403", "429"} & codes, f"{where} checks no key"
            if method == "get":
                assert "403" not in codes, f"{where}: any key may read"
    assert "403" in paths["/series/{ticker}"]["delete"]["responses"]  # a read-only key may not delete
    for path, operations in paths.items():  # a body's limits only where there is a body
        for method, op in operations.items():
            if not op.get("requestBody"):
                assert not {"413", "415"} & set(op["responses"]), f"{method.upper()} {path}"


def test_open_operations_answer_without_a_key_when_keys_exist(settings):
    with TestClient(create_app(settings.model_copy(update={"bootstrap_key": SecretStr("k" * 40)}))) as c:
        doc = c.get("/openapi.json").json()
        for path, operations in doc["paths"].items():
            if "get" in operations and not operations["get"]["security"]:
                assert c.get(path).status_code in (200, 503), path
        assert c.get("/docs").status_code == 200 and c.get("/series").status_code == 401
