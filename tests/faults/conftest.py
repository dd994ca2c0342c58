"""Fixtures for fault tests: a throwaway Postgres cluster that a test may stop and start."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import migrate
from service.settings import Settings
from tests.e2e.server import free_port

PG_BIN = Path(os.environ.get("PRICECAST_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def skip_or_fail(reason: str) -> None:
    """Skip locally; in CI a fault test that cannot run is an error, never a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


class Cluster:
    """A Postgres cluster of our own (initdb into a temp dir, run as user postgres), on a free port."""

    def __init__(self, root: Path) -> None:
        self.root, self.data, self.port = root, root / "data", free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "postgres.log"),
                          "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture
def own_postgres() -> Iterator[Cluster]:
    """A migrated, running throwaway cluster; stopped and removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        skip_or_fail(f"initdb not found in {PG_BIN} (set PRICECAST_TEST_PG_BIN)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root and there is no 'postgres' user to run initdb as")
    # Not under pytest's tmp_path: that is private to root, and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="pricecast-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(root)
    try:
        cluster.init()
        cluster.start()
        migrate.upgrade(Settings(database_url=cluster.url))
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
