"""requirements.lock: every runtime and test dependency pinned, and what every install uses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lock_pins_every_dependency_and_matches_the_venv() -> None:
    # The suite runs in the venv scripts/setup-venv built from the lock, so this also proves the
    # lock installs: a missing, unused or out-of-range pin fails here, naming it.
    result = subprocess.run([str(ROOT / "scripts" / "lock"), "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_lock_check_names_a_missing_and_a_stray_pin(tmp_path: Path) -> None:
    # The same checker on a broken copy of the lock: it must fail and say which pin.
    broken = tmp_path / "requirements.lock"
    text = (ROOT / "requirements.lock").read_text()
    assert re.search(r"^hypothesis==", text, re.M), "hypothesis (the issue's example) must be pinned"
    broken.write_text(re.sub(r"^hypothesis==.*\n", "", text, flags=re.M) + "not-a-dependency==1.0\n")
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "lockcheck.py"), str(broken)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "hypothesis (needed by pyproject.toml) is not pinned" in result.stderr
    assert "not-a-dependency==1.0 is pinned but nothing requires it" in result.stderr


def test_lock_pins_the_cpu_torch_of_constraints() -> None:
    pins = dict(ln.split("==", 1) for ln in (ROOT / "requirements.lock").read_text().splitlines()
                if ln and not ln.startswith("#"))
    torch = re.search(r"^torch==(\S+)", (ROOT / "constraints.txt").read_text(), re.M)
    assert torch and pins["torch"].split("+")[0] == torch.group(1)


def test_setup_venv_installs_from_the_lock_and_says_what_it_does() -> None:
    script = (ROOT / "scripts" / "setup-venv").read_text()
    assert "-r requirements.lock" in script and "--no-deps -e ." in script
    install = script[script.index("pip install"):script.index("-r requirements.lock")]
    assert " -q " not in install, "the 2-3 minute install must not be silent"
    assert "[setup-venv]" in script  # its phases are printed
    assert "scripts/lock --check" in (ROOT / ".ci" / "run").read_text()
