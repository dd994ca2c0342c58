"""The CLI's shell: help is fast because no command module loads torch, pandas, SQLAlchemy or the use cases
at import (`time pricecast --help` in docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

# Every command and subcommand, found in the app itself, so a new one is covered without a list here.
COMMANDS_OF_APP = (
    "import typer\n"
    "def walk(cmd, path):\n"
    "    yield path\n"
    "    for name, sub in sorted(getattr(cmd, 'commands', {}).items()):\n"
    "        yield from walk(sub, path + [name])\n"
    "commands = list(walk(typer.main.get_command(app), []))\n"
)
# (pydantic is not on the list: typer itself loads it to build a subcommand's parameters.)
HEAVY = ("torch", "numpy", "pandas", "sqlalchemy", "alembic", "httpx", "fastapi", "service.usecases", "service.settings")


def test_help_of_every_command_loads_no_torch():
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from service.cli import app\n"
        + COMMANDS_OF_APP +
        "out = {}\n"
        "for path in commands:\n"
        "    r = CliRunner().invoke(app, path + ['--help'])\n"
        "    out[' '.join(path + ['--help'])] = r.exit_code\n"
        f"print(json.dumps({{'codes': out, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    result = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert set(result["codes"].values()) == {0}, result
    assert {"--help", "serve --help", "keys create --help", "info --help"} <= set(result["codes"])
    assert result["heavy"] == []


def test_help_works_with_a_bad_setting(pricecast):
    # Settings are read when a command runs, not for its --help.
    r = pricecast("serve", "--help", port="0")
    assert r.exit_code == 0 and "--port" in r.output


def test_a_bad_setting_is_one_line_naming_the_variable(pricecast):
    r = pricecast("series", "list", port="0")
    assert r.exit_code == 1 and "PRICECAST_PORT" in r.stderr and "Traceback" not in r.stderr
