"""Start `pricecast serve` (the command a user runs) as a child process for benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def data_path(name: str) -> Path:
    for folder in (SHARED, ROOT / "examples" / "data"):
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"{name} not found in {SHARED} or examples/data")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, log: Path, *args: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRICECAST_")}
        env |= {"PRICECAST_PORT": str(self.port), "PRICECAST_LOG_LEVEL": "warning"}
        # Benchmarks measure speed from one client address: per-caller rate limits off unless asked.
        env.setdefault("PRICECAST_RATE_LIMIT", "off")
        env.setdefault("PRICECAST_TRAIN_RATE_LIMIT", "off")
        env |= {f"PRICECAST_{k.upper()}": v for k, v in settings.items()}
        self._log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "service", "serve", *args], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Server:
        for _ in range(600):
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: see {self._log.name}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._log.close()
