"""The README runs verbatim: its shell blocks, in order, against a quickstart server (tests/docs/readme.py)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docs.readme import bash_blocks, commands, run
from tests.e2e.server import ROOT, PricecastProcess, free_port, pricecast_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
README = ROOT / "README.md"


class Quickstart:
    """`pricecast demo --serve`, what scripts/quickstart runs: the sample series loaded and trained, then served."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Keys are looked up fresh on every request, so the README's 401 right after `keys create`
        # does not depend on how fast the next line runs (a person takes more than the 1 s cache).
        self.settings = {"data_dir": str(tmp / "var"), "auth_cache_seconds": "0", "log_level": "warning"}
        self.proc = PricecastProcess("demo", tmp / "quickstart.log", "--serve", "--port", str(self.port), **self.settings)

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.proc.poll() is not None:
                raise RuntimeError(f"quickstart exited with {self.proc.proc.returncode}:\n{self.proc.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"quickstart not serving after {timeout}s:\n{self.proc.log()}")

    def env(self) -> dict[str, str]:
        """The reader's shell: the venv activated, the CLI on the server's data (as from the clone's root)."""
        env = pricecast_env(**self.settings)
        bin_dir = Path(sys.executable).parent
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(bin_dir.parent)
        return env


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> Iterator[Quickstart]:
    q = Quickstart(tmp_path_factory.mktemp("readme"))
    try:
        q.wait_ready()
        yield q
    finally:
        q.proc.stop()


def test_the_checker_fails_on_a_missing_file_and_on_a_wrong_output(quickstart):
    # Stateless commands, so the tour below still starts from the quickstart state.
    broken = commands([
        "curl -sS -X POST http://127.0.0.1:8000/series/IBM -F file=@tests/data/NOT-THERE.csv",
        "curl -sS -X POST http://127.0.0.1:8000/series/IBM -H 'content-type: text/csv' \\",
        "     --data-binary @tests/data/NOT-THERE.csv",
        "curl -sS http://127.0.0.1:8000/healthz   # => {\"status\":\"sick\"}",
        "curl -sS http://127.0.0.1:8000/healthz",
        "# => {\"status\":...}",
        "curl -sS http://127.0.0.1:8000/series/NOPE/models",
    ], first_line=1)
    assert [c.expect for c in broken] == [[], [], ['{"status":"sick"}'], ['{"status":...}'], []]
    problems = run([broken], url=quickstart.url, cwd=ROOT, env=quickstart.env())
    assert len(problems) == 4, problems
    assert "exited 26" in problems[0]  # curl's own error (it cannot read the file), shown by -S
    # --data-binary sends an empty body instead; the server's answer names the likely cause.
    assert "answered an error nobody documented" in problems[1] and "check that FILE exists" in problems[1]
    assert 'expected: {"status":"sick"}' in problems[2]
    assert "answered an error nobody documented" in problems[3] and "not_found" in problems[3]


def test_readme_shell_blocks_run_in_order_and_print_what_they_document(quickstart):
    blocks, skipped = bash_blocks(README.read_text())
    assert len(blocks) >= 3 and all(skipped), "every block left out says why"
    assert sum(len(c.expect) for b in blocks for c in b) >= 5, "the tour documents outputs"
    problems = run(blocks, url=quickstart.url, cwd=ROOT, env=quickstart.env())
    assert not problems, "\n\n".join(problems) + f"\n\nserver log:\n{quickstart.proc.log()[-3000:]}"
