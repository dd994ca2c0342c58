"""The CLI's shell: help is fast because no command module loads torch, pandas, SQLAlchemy or the use cases
at import (`time pricecast --help` in docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

COMMANDS = ["serve", "migrate", "import", "series", "series list", "series calendar", "backtest", "train", "worker",
            "forecast", "demo", "keys", "keys create", "keys list", "keys revoke", "info"]
# (pydantic is not on the list: typer itself loads it to build a subcommand's parameters.)
HEAVY = ("torch", "numpy", "pandas", "sqlalchemy", "alembic", "httpx", "fastapi", "service.usecases", "service.settings")


def test_help_of_every_command_loads_no_torch():
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from service.cli import app\n"
        "out = {}\n"
        f"for args in [[]] + [[*c.split(), '--help'] for c in {COMMANDS!r}]:\n"
        "    r = CliRunner().invoke(app, args or ['--help'])\n"
        "    out[' '.join(args) or '--help'] = r.exit_code\n"
        f"print(json.dumps({{'codes': out, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    result = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert set(result["codes"].values()) == {0}, result
    assert result["heavy"] == []


def test_help_works_with_a_bad_setting(pricecast):
    # Settings are read when a command runs, not for its --help.
    r = pricecast("serve", "--help", port="0")
    assert r.exit_code == 0 and "--port" in r.output


def test_a_bad_setting_is_one_line_naming_the_variable(pricecast):
    r = pricecast("series", "list", port="0")
    assert r.exit_code == 1 and "PRICECAST_PORT" in r.stderr and "Traceback" not in r.stderr
