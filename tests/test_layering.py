"""models/ stays pure ML: importing it pulls in nothing from the service or web/DB libraries."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import models
from tests.conftest import ROOT


def test_models_imports_no_service_or_web_libraries():
    names = [f"models.{m.name}" for m in pkgutil.iter_modules(models.__path__)]
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    banned = ("service", "sqlalchemy", "fastapi", "pydantic", "starlette", "pandas")
    assert [m for m in loaded if m.split(".")[0] in banned] == []
