import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_models_imports_only_torch_numpy_and_the_standard_library():
    code = (
        "import sys, models, models.lstm, models.windows, models.train, models.evaluate, "
        "models.calibration, models.predict, models.checkpoints, models.errors\n"
        "bad = [m for m in ('service', 'pandas', 'sqlalchemy', 'fastapi', 'pydantic', 'pickle') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    # torch itself imports pickle; models/ must not use it, which the source check below covers.
    assert out.stdout.strip() in ("", "pickle")
    for path in (ROOT / "models").glob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "torch.load(" not in text, path
        for name in ("pandas", "service", "sqlalchemy", "fastapi", "pydantic"):
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)


def test_models_imports_form_no_cycle():
    """Issue 12: train -> evaluate -> predict -> train was a circle; each module imports only earlier ones."""
    import ast

    graph = {}
    for path in (ROOT / "models").glob("*.py"):
        tree = ast.parse(path.read_text())
        deps = {node.module.split(".")[1] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("models.")}
        graph[path.stem] = deps

    def reaches(start, target, seen=()):
        return any(d == target or (d not in seen and reaches(d, target, (*seen, d))) for d in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m)] == []
    assert "predict" not in graph["evaluate"] and "train" not in graph["predict"]
