"""The CLI's shell: help is fast because no command module loads torch (or the use cases) at import."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

COMMANDS = ["serve", "migrate", "import", "series", "backtest", "train", "worker", "forecast", "demo", "keys"]


def test_help_of_every_command_loads_no_torch():
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from service.cli import app\n"
        "out = {}\n"
        f"for args in [[]] + [[c, '--help'] for c in {COMMANDS!r}]:\n"
        "    r = CliRunner().invoke(app, args or ['--help'])\n"
        "    out[' '.join(args) or '--help'] = r.exit_code\n"
        "print(json.dumps({'codes': out, 'heavy': [m for m in ('torch', 'service.usecases', 'fastapi') if m in sys.modules]}))\n"
    )
    result = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert set(result["codes"].values()) == {0}, result
    assert result["heavy"] == []


def test_a_bad_setting_is_one_line_naming_the_variable(pricecast):
    r = pricecast("series", "list", port="0")
    assert r.exit_code == 1 and "PRICECAST_PORT" in r.stderr and "Traceback" not in r.stderr
