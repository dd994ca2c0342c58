"""The direction of imports: api/cli -> use cases -> domain -> models, never back.

Two kinds of proof: what importing a layer loads (a fresh interpreter's sys.modules), and what
each adapter module's source imports (its AST).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys

import pytest

import models
import service.schemas
import service.usecases
from tests.conftest import ROOT

DOMAIN = ["service.accuracy", "service.db", "service.errors", "service.forecasting.caches",
          "service.forecasting.forecasts", "service.forecasting.levels", "service.forecasting.targets", "service.jobs",
          "service.keys", "service.migrate", "service.pricearrays", "service.registry", "service.reports",
          "service.retraining", "service.series", "service.settings", "service.store", "service.tables",
          "service.tickers", "service.training.jobs", "service.training.params", "service.training.runner",
          "service.uploads", *(f"service.schemas.{m.name}" for m in pkgutil.iter_modules(service.schemas.__path__))]
USE_CASES = [f"service.usecases.{m.name}" for m in pkgutil.iter_modules(service.usecases.__path__)]
# Domain modules that read or write the database: adapters reach them only through a use case.
STATEFUL = {"service.accuracy", "service.forecasting.caches", "service.forecasting.forecasts",
            "service.forecasting.targets", "service.keys", "service.registry", "service.retraining",
            "service.pricearrays", "service.series", "service.store", "service.training.jobs",
            "service.training.runner"}


def _loaded(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for n in {modules!r}: importlib.import_module(n)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _top(names: list[str], banned: tuple[str, ...]) -> list[str]:
    return [m for m in names if m.split(".")[0] in banned or any(m == b or m.startswith(b + ".") for b in banned)]


def test_models_loads_nothing_from_the_service_or_web_and_database_libraries():
    loaded = _loaded([f"models.{m.name}" for m in pkgutil.iter_modules(models.__path__)])
    assert _top(loaded, ("service", "sqlalchemy", "fastapi", "pydantic", "starlette", "pandas")) == []
    for path in (ROOT / "models").glob("*.py"):  # torch imports pickle itself; models/ must never use it
        text = path.read_text()
        assert "import pickle" not in text and "torch.load(" not in text, path


def test_the_domain_never_loads_use_cases_adapters_or_fastapi():
    loaded = _loaded(DOMAIN)
    assert _top(loaded, ("service.usecases", "service.api", "service.cli", "fastapi", "starlette", "typer")) == []


def test_use_cases_never_load_fastapi_or_the_adapters():
    loaded = _loaded(USE_CASES)
    assert _top(loaded, ("service.api", "service.cli", "fastapi", "starlette", "typer")) == []


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


ADAPTERS = sorted((ROOT / "service" / "api" / "routes").glob("*.py")) + sorted((ROOT / "service" / "cli").glob("*.py"))


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_routes_and_commands_reach_the_database_only_through_use_cases(path):
    imports = _imports(path)
    assert sorted(imports & STATEFUL) == [], "call a use case (service/usecases/) instead"
    if path.parent.name == "routes":
        assert [m for m in imports if m.startswith("service.api.routes")] == [], "a route never imports another route"


def test_models_imports_form_no_cycle():
    """Issue 12: train -> evaluate -> predict -> train was a circle; each models module imports only earlier ones."""
    graph = {}
    for path in (ROOT / "models").glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {node.module.split(".")[1] for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("models.")}

    def reaches(start, target, seen=()):
        return any(d == target or (d not in seen and reaches(d, target, (*seen, d))) for d in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m)] == []
    assert "predict" not in graph["evaluate"] and "train" not in graph["predict"]
