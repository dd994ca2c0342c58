"""The CLI against a real server and a real busy port: --url/--key, and failing before any work."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.e2e.server import ServerProcess, free_port, pricecast_env

pytestmark = pytest.mark.e2e


def cli(*args: str, timeout: float = 120, **settings: str) -> subprocess.CompletedProcess:
    env = pricecast_env(**{k: v for k, v in settings.items() if k not in ("url", "api_key")})
    env.update({f"PRICECAST_{k.upper()}": v for k, v in settings.items() if k in ("url", "api_key")})
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_forecast_url_sends_the_key_from_the_option_or_the_environment(tmp_path):
    var = str(tmp_path / "var")
    with ServerProcess(tmp_path / "server.log", data_dir=var, auth_cache_seconds="0") as server:
        open_answer = cli("forecast", "NOPE", "--url", server.url, data_dir=var)
        assert open_answer.returncode == 1 and "answered 404" in open_answer.stderr
        assert f"looked on the server {server.url}" in open_answer.stderr
        created = cli("keys", "create", "--name", "ci", "--json", data_dir=var)
        key = json.loads(created.stdout)["key"]
        assert "Authentication is now required" in created.stderr
        # The server is no longer open: without a key the CLI says how to send one.
        no_key = cli("forecast", "NOPE", "--url", server.url, data_dir=var)
        assert no_key.returncode == 1 and "answered 401" in no_key.stderr and "--key" in no_key.stderr
        # With the key (an option, or PRICECAST_URL + PRICECAST_API_KEY) it gets past the key check.
        by_option = cli("forecast", "NOPE", "--url", server.url, "--key", key, data_dir=var)
        by_env = cli("forecast", "NOPE", data_dir=var, url=server.url, api_key=key)
        for r in (by_option, by_env):
            assert r.returncode == 1 and "answered 404" in r.stderr and "ticker 'NOPE' not found" in r.stderr, r.stderr
        assert key not in by_option.stdout + by_option.stderr + by_env.stdout + by_env.stderr
        wrong = cli("forecast", "NOPE", "--url", server.url, "--key", "pc_wrong", data_dir=var)
        assert wrong.returncode == 1 and "answered 401" in wrong.stderr and "refused" in wrong.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_busy_port_fails_at_once_with_one_line(tmp_path, busy_port):
    var = str(tmp_path / "var")
    r = cli("serve", "--port", str(busy_port), data_dir=var, timeout=60)
    assert r.returncode == 1
    assert f"port {busy_port} on 127.0.0.1 is already in use" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr and "Errno" not in r.stderr


def test_quickstart_port_option_and_a_busy_port_fail_before_training(tmp_path, busy_port):
    # scripts/quickstart passes its options to `pricecast demo --serve`; the port is checked before
    # the samples are loaded and trained (which used to take a minute and then die on the bind).
    env = pricecast_env(data_dir=str(tmp_path / "var"))
    start = time.monotonic()
    r = subprocess.run([str(ROOT / "scripts" / "quickstart"), "--port", str(busy_port)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"port {busy_port} on 127.0.0.1 is already in use" in r.stderr
    assert "loaded" not in r.stdout and not (tmp_path / "var" / "pricecast.db").exists()
    assert ".venv/bin/pricecast" in r.stderr and "source .venv/bin/activate" in r.stderr  # how to reach the CLI
    assert time.monotonic() - start < 120


def test_demo_serves_on_the_port_it_is_given(tmp_path):
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "service", "demo", "--serve", "--port", str(port)], cwd=ROOT,
                            env=pricecast_env(data_dir=str(tmp_path / "var")), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        import httpx

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and demo.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
        assert httpx.post(f"http://127.0.0.1:{port}/forecast", json={"ticker": "SPX"}).status_code == 200
    finally:
        demo.terminate()
        out, _ = demo.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}" in out and "pricecast --help" in out
