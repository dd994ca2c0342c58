"""Hostile clients against the real `pricecast serve`: each bad shape is answered in bounded time and memory.

Bounds are generous (a shared 2-core machine): they separate "refused early" from "read,
buffered or parsed", which cost seconds and hundreds of MB here before these limits.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.server import PricecastProcess, ServerProcess, free_port, pricecast_env

pytestmark = pytest.mark.e2e

KEY = "edge-test-bootstrap-key-0123456789abcdef"
AUTH = f"Authorization: Bearer {KEY}\r\n".encode()
MB = 1 << 20


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect(server: ServerProcess, timeout: float = 30) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return s


def read_reply(s: socket.socket) -> bytes:
    """Everything until the server closes (or resets) the connection."""
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def status_of(reply: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", reply)
    return int(match[1]) if match else None


def healthz_ms(server: ServerProcess) -> float:
    start = time.perf_counter()
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    return (time.perf_counter() - start) * 1000


PROBE = """
import sys, time, httpx
out = []
with httpx.Client(timeout=10) as c:
    for _ in range(int(sys.argv[2])):
        start = time.perf_counter()
        c.get(sys.argv[1] + "/healthz", headers={"connection": "close"}).raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
        time.sleep(float(sys.argv[3]))
print(" ".join(f"{x:.1f}" for x in out))
"""


def health_probe(server: ServerProcess, n: int = 20, interval: float = 0.1) -> subprocess.Popen:
    """/healthz latencies measured from another process (this one is busy attacking); .communicate() ends it."""
    return subprocess.Popen([sys.executable, "-c", PROBE, server.url, str(n), str(interval)],
                            stdout=subprocess.PIPE, text=True)


def latencies(probe: subprocess.Popen) -> list[float]:
    out, _ = probe.communicate(timeout=120)
    assert probe.returncode == 0
    return [float(x) for x in out.split()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the attacks below (each leaves it as it found it; starting one takes seconds here)."""
    tmp_path = tmp_path_factory.mktemp("edge")
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"), bootstrap_key=KEY,
                       max_connections="200", header_timeout="2", body_timeout="3", max_upload_bytes=str(50 * MB),
                       rate_limit="off", log_format="json") as s:
        healthz_ms(s)
        yield s


def test_huge_header_lines_are_refused_early_in_bounded_memory(server):
    base = rss_mb(server.proc.pid)
    replies, times = [], []

    def attack() -> None:
        with connect(server) as s:
            start = time.monotonic()
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(100):  # 100 MB, unless the server stops listening first
                    s.sendall(b"a" * MB)
            except OSError:
                pass
            replies.append(read_reply(s))
            times.append(time.monotonic() - start)

    threads = [threading.Thread(target=attack) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert max(times) < 10, times
    assert all(status_of(r) in (431, None) for r in replies), replies  # 431, or reset while still sending
    assert rss_mb(server.proc.pid) - base < 60
    healthz_ms(server)


def test_slow_and_silent_clients_are_timed_out(server):
    with connect(server) as silent, connect(server) as slow_headers, connect(server) as slow_body:
        _slow_and_silent(server, silent, slow_headers, slow_body)


def _slow_and_silent(server, silent, slow_headers, slow_body) -> None:
    start = time.monotonic()
    slow_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    slow_body.sendall(b"POST /series/X HTTP/1.1\r\nHost: x\r\n" + AUTH +
                      b"Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\ndate,close\n")
    assert read_reply(silent) == b""
    assert time.monotonic() - start < 2 + 3
    reply = read_reply(slow_headers)
    assert status_of(reply) == 408 and b"PRICECAST_HEADER_TIMEOUT" in reply
    reply = read_reply(slow_body)
    assert status_of(reply) == 408 and b"PRICECAST_BODY_TIMEOUT" in reply
    assert time.monotonic() - start < 3 + 3
    # A body nobody reads (an early 401) is not a way to hold the connection either.
    with connect(server) as s:
        s.sendall(b"POST /series/X HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\nda")
        reply = read_reply(s)
    assert status_of(reply) == 401
    assert time.monotonic() - start < 2 * (3 + 3)


def test_deep_json_and_chunked_bodies_over_the_limit(server):
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as c:
        r = c.post("/forecast", content=b"[" * 10_000 + b"]" * 10_000, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "PRICECAST_MAX_JSON_DEPTH" in r.json()["error"]["message"]

        def chunks():
            for _ in range(60):
                yield b" " * MB

        r = c.post("/train", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_unauthenticated_big_bodies_are_not_read_or_parsed(server):
    """8 concurrent 49 MB JSON bodies without a key: 401 each, little memory, health checks stay fast."""
    body = b'{"ticker": "X", "prices": [' + b'{"date": "2024-01-02", "close": 1.0},' * (49 * MB // 38) + b"{}]}"
    base = rss_mb(server.proc.pid)
    statuses, peak = [], [base]
    done = threading.Event()

    def send() -> None:
        r = httpx.post(server.url + "/forecast", content=body, headers={"content-type": "application/json"},
                       timeout=60)
        statuses.append(r.status_code)

    def watch() -> None:
        while not done.is_set():
            peak.append(rss_mb(server.proc.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=send) for _ in range(8)]
    start = time.monotonic()
    probe = health_probe(server)
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - start
    health = latencies(probe)
    done.set()
    watcher.join()
    assert statuses == [401] * 8
    assert max(peak) - base < 100, (base, max(peak))  # parsing one of them costs several hundred MB
    assert max(health) < 2000, health
    assert elapsed < 30


def test_a_flood_of_idle_connections_neither_exhausts_descriptors_nor_stops_health_checks(server):
    flood: list[socket.socket] = []
    probe = health_probe(server, n=30, interval=0.05)
    try:
        for _ in range(1500):  # the cap is 200
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"GET /series HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers never finish
            flood.append(s)
        health = latencies(probe) + [healthz_ms(server) for _ in range(5)]
        assert open_fds(server.proc.pid) < 200 + 256
        assert max(health) < 2000, health
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        evicted = float(re.search(r'pricecast_http_connections_dropped_total\{reason="evicted"\} (\S+)', metrics)[1])
        assert evicted >= 1500 - 200
    finally:
        for s in flood:
            s.close()


def test_a_client_that_leaves_mid_upload_is_logged_once_as_499(tmp_path):
    with ServerProcess(tmp_path / "server.log", data_dir=str(tmp_path / "var"), log_format="json") as server:
        for path, ctype, start in (("/series/X", b"text/csv", b"date,close\n2024-01-02,1\n"),
                                   ("/forecast", b"application/json", b'{"ticker": "X", "prices": [')):
            with connect(server) as s:
                s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype +
                          b"\r\nContent-Length: 100000\r\n\r\n" + start)
                time.sleep(0.3)
        time.sleep(1)
        metrics = httpx.get(server.url + "/metrics").text
        log = server.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    gone = [r for r in lines if r.get("status") == 499]
    assert sorted(r["path"] for r in gone) == ["/forecast", "/series/X"]
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert not any(r.get("status") == 500 for r in lines)
    assert 'status="499"' in metrics and 'status="500"' not in metrics


def _cli(*args: str, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, capture_output=True, text=True,
                          env=pricecast_env(**settings), timeout=120)


def test_revoking_the_last_key_of_a_public_server_does_not_open_it(tmp_path):
    """On 0.0.0.0 with keys from `pricecast keys create` and no bootstrap key, `keys revoke` of the last one."""
    var = str(tmp_path / "var")
    created = _cli("keys", "create", "--name", "admin", "--json", data_dir=var)
    key = json.loads(created.stdout)
    port = free_port()
    proc = PricecastProcess("serve", tmp_path / "server.log", host="0.0.0.0", port=str(port), data_dir=var)
    url = f"http://{_public_address()}:{port}"
    try:
        _wait(url, proc)
        assert httpx.post(url + "/series/X", content=b"date,close\n2024-01-02,1\n", timeout=30,
                          headers={"content-type": "text/csv", "x-api-key": key["key"]}).status_code == 200
        assert _cli("keys", "revoke", str(key["id"]), data_dir=var).returncode == 0
        r = httpx.post(url + "/series/Y", content=b"date,close\n2024-01-02,1\n", headers={"content-type": "text/csv"})
        assert r.status_code == 401
        assert httpx.delete(url + "/series/X").status_code == 401
        assert httpx.get(url + "/series").status_code == 401
        assert httpx.get(url + "/healthz").status_code == 200
    finally:
        proc.stop()


def _public_address() -> str:
    """A non-loopback address of this machine when it has one (the request then comes from 'elsewhere')."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        with socket.create_connection((address, 9), timeout=0.2):
            pass
    except ConnectionRefusedError:
        return address  # reachable: nothing listens on port 9
    except OSError:
        return "127.0.0.1"
    return address


def _wait(url: str, proc: PricecastProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(proc.log())
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(proc.log())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_revoked_key_stops_writing_on_every_process_at_once(tmp_path, request, backend):
    """Two servers share a database; after `keys revoke` returns, neither accepts a write with the key."""
    var = str(tmp_path / "var")
    db = {"data_dir": var} if backend == "sqlite" else {"data_dir": var,
                                                        "database_url": request.getfixturevalue("fresh_postgres_url")}
    key = json.loads(_cli("keys", "create", "--name", "writer", "--json", **db).stdout)
    _cli("keys", "create", "--name", "other", **db)
    common = {**db, "rate_limit": "off", "embedded_worker": "false"}
    with ServerProcess(tmp_path / "a.log", **common) as a, ServerProcess(tmp_path / "b.log", **common) as b:
        revoked_at: list[float] = []
        late: list[tuple[str, int, float]] = []  # writes sent after the revocation had committed
        stop = threading.Event()

        def hammer(server: ServerProcess, ticker: str) -> None:
            with httpx.Client(base_url=server.url, timeout=30, headers={"x-api-key": key["key"]}) as c:
                while not stop.is_set():
                    sent = time.monotonic()
                    r = c.post(f"/series/{ticker}", content=b"date,close\n2024-01-02,1\n",
                               headers={"content-type": "text/csv"})
                    if revoked_at and sent > revoked_at[0]:
                        late.append((server.url, r.status_code, sent))

        threads = [threading.Thread(target=hammer, args=(s, t)) for s, t in ((a, "A1"), (a, "A2"), (b, "B1"), (b, "B2"))]
        for t in threads:
            t.start()
        time.sleep(1)
        assert _cli("keys", "revoke", str(key["id"]), **db).returncode == 0
        revoked_at.append(time.monotonic())
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(30)
        assert len(late) >= 4 and {code for _, code, _ in late} == {401}, late[:5]
        # Reads may ride the 1 s cache (PRICECAST_AUTH_CACHE_SECONDS), no longer.
        for server in (a, b):
            assert httpx.get(server.url + "/series", headers={"x-api-key": key["key"]}).status_code == 401


@pytest.mark.parametrize(("args", "settings"), [
    (("serve",), {"database_url": "postgresql+psycopg://app:S3cret-Pw@127.0.0.1:notaport/pc"}),
    (("serve",), {"database_url": "postgresql+psycopg://app:S3cret-Pw@127.0.0.1:1/pc"}),
    (("migrate",), {"database_url": "postgresql+psycopg://app:S3cret-Pw@127.0.0.1:1/pc"}),
    (("keys", "list"), {"database_url": "postgresql+psycopg://app:S3cret-Pw@127.0.0.1:1/pc"}),
    (("serve",), {"database_url": "mysql://app:S3cret-Pw@db/pc"}),
    (("serve",), {"queue_url": "amqp://app:S3cret-Pw@mq/"}),
    (("serve",), {"bootstrap_key": "S3cret-Pw-too-short"}),
])
def test_start_up_errors_never_print_a_secret(tmp_path, args, settings):
    out = _cli(*args, data_dir=str(tmp_path / "var"), port="1", **settings)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "error" in text
    assert "S3cret" not in text, text
    if "database_url" in settings and "mysql" not in settings["database_url"]:
        assert "app:***@127.0.0.1" in text
