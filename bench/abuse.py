"""Hostile clients against the real server (`pricecast serve`): /healthz latency during each attack.

Runs a quiet baseline, then each attack shape for --duration seconds from separate client
processes, while a prober process (a fresh connection per request, every 20 ms) times GET
/healthz. Prints, per attack: /healthz p50, p99 and max, failed probes, the p99 ratio to the
quiet baseline of the same run, the server's peak RSS and open file descriptors, and what the
attackers were answered. Server settings are the defaults (PRICECAST_MAX_CONNECTIONS 1000,
header 10 s, body 60 s, 16 KiB of headers, 50 MiB bodies) plus a bootstrap key.

    .venv/bin/python bench/abuse.py [--duration 10] [--flood 20000] [--postgres URL] [--only NAME ...]

The attacks that touch the database (key lookups) run on Postgres too when --postgres (an
admin URL; a database is created and dropped) or PRICECAST_TEST_POSTGRES_URL is given.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import re
import secrets
import socket
import statistics
import tempfile
import time
from pathlib import Path

from _server import Server, postgres_database

KEY = "bench-abuse-bootstrap-key-" + "0" * 16
MB = 1 << 20


def _connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def _status(s: socket.socket) -> str:
    """The status code the server answered, 'closed' or 'reset'."""
    try:
        data = s.recv(64)
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    except TimeoutError:
        return "timeout"
    match = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return match[1].decode() if match else "closed"


# Attacks: each runs in `procs` processes until `deadline`, returning a Counter of outcomes.

def big_headers(port: int, deadline: float) -> collections.Counter:
    """A header line of up to 100 MB, no key."""
    out: collections.Counter = collections.Counter()
    chunk = b"a" * MB
    while time.time() < deadline:
        with _connect(port) as s:
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(100):
                    s.sendall(chunk)
            except OSError:
                pass
            out[_status(s)] += 1
    return out


def slow_headers(port: int, deadline: float, n: int = 300) -> collections.Counter:
    """Slowloris: `n` connections sending one header byte per second, reconnecting when dropped."""
    out: collections.Counter = collections.Counter()
    conns: list[socket.socket] = []
    while time.time() < deadline:
        while len(conns) < n:
            s = _connect(port)
            s.sendall(b"GET /series HTTP/1.1\r\nHost: x\r\n")
            conns.append(s)
        alive = []
        for s in conns:
            try:
                s.sendall(b"X")
                alive.append(s)
            except OSError:
                out["dropped"] += 1
                s.close()
        conns = alive
        time.sleep(1)
    for s in conns:
        s.close()
    return out


def idle_flood(port: int, deadline: float, n: int = 10_000) -> collections.Counter:
    """`n` connections that never finish their headers, held open until the deadline (3x --duration)."""
    out: collections.Counter = collections.Counter()
    conns = []
    for _ in range(n):
        if time.time() >= deadline:
            break
        try:
            s = _connect(port, timeout=5)
            s.sendall(b"GET /series HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            conns.append(s)
            out["opened"] += 1
        except OSError as exc:
            out[type(exc).__name__] += 1
    time.sleep(max(0.0, deadline - time.time()))
    for s in conns:
        s.close()
    return out


def slow_body(port: int, deadline: float, n: int = 200) -> collections.Counter:
    """`n` keyed uploads announcing 1 MB and sending 10 bytes a second."""
    out: collections.Counter = collections.Counter()
    conns = []
    for _ in range(n):
        s = _connect(port, timeout=1)
        s.sendall(f"POST /series/SLOW HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                  f"Content-Type: text/csv\r\nContent-Length: {MB}\r\n\r\ndate,close\n".encode())
        conns.append(s)
    while time.time() < deadline:
        for s in conns:
            try:
                s.sendall(b"2024-01-02")
            except OSError:
                pass
        time.sleep(1)
    for s in conns:  # answered already (408 after PRICECAST_BODY_TIMEOUT), or still held
        s.setblocking(False)
        try:
            data = s.recv(64)
            out[data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "closed"] += 1
        except BlockingIOError:
            out["held"] += 1
        except OSError:
            out["reset"] += 1
        s.close()
    return out


def _post(port: int, path: str, headers: str, body: bytes | None, chunked: bytes | None = None) -> str:
    with _connect(port, timeout=30) as s:
        try:
            if chunked is None:
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
                s.sendall(body)
            else:
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\n"
                          f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
                for _ in range(60):
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunked), chunked))
                s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        return _status(s)


def unauth_big_bodies(port: int, deadline: float) -> collections.Counter:
    """49 MB JSON to /forecast without a key, again and again."""
    body = b'{"ticker": "X", "prices": [' + b'{"date": "2024-01-02", "close": 1.0},' * (49 * MB // 38) + b"{}]}"
    out: collections.Counter = collections.Counter()
    while time.time() < deadline:
        out[_post(port, "/forecast", "", body)] += 1
    return out


def deep_json(port: int, deadline: float) -> collections.Counter:
    """1 MB of '[' with a valid key."""
    out: collections.Counter = collections.Counter()
    while time.time() < deadline:
        out[_post(port, "/forecast", f"Authorization: Bearer {KEY}\r\n", b"[" * MB)] += 1
    return out


def chunked_over_limit(port: int, deadline: float) -> collections.Counter:
    """60 MB of chunked JSON (over the 50 MiB limit) to /train with a valid key."""
    out: collections.Counter = collections.Counter()
    while time.time() < deadline:
        out[_post(port, "/train", f"Authorization: Bearer {KEY}\r\n", None, chunked=b" " * MB)] += 1
    return out


def wrong_keys(port: int, deadline: float) -> collections.Counter:
    """Keep-alive GETs with a new random key each (a database lookup each), as fast as possible."""
    out: collections.Counter = collections.Counter()
    with _connect(port) as s:
        while time.time() < deadline:
            s.sendall(f"GET /series HTTP/1.1\r\nHost: x\r\nX-API-Key: pc_{secrets.token_urlsafe(32)}\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])
            while len(rest) < length:
                rest += s.recv(4096)
            out[head[9:12].decode()] += 1
    return out


# name: (function, client processes, needs the database, description)
ATTACKS = {
    "big_headers": (big_headers, 4, False, "4 clients, 100 MB header lines, no key"),
    "slow_headers": (slow_headers, 2, False, "600 slowloris connections, 1 header byte/s"),
    "idle_flood": (idle_flood, 2, False, "{flood} connections that never finish their headers (3x as long)"),
    "slow_body": (slow_body, 2, False, "400 keyed uploads at 10 bytes/s"),
    "unauth_big_bodies": (unauth_big_bodies, 8, True, "8 clients, 49 MB JSON to /forecast, no key"),
    "deep_json": (deep_json, 2, False, "2 clients, 1 MB of '[' to /forecast, keyed"),
    "chunked_over_limit": (chunked_over_limit, 2, False, "2 clients, 60 MB chunked JSON to /train, keyed"),
    "wrong_keys": (wrong_keys, 4, True, "4 keep-alive clients, a random key per request"),
}


def _attack_proc(name: str, port: int, deadline: float, flood: int, results: mp.Queue) -> None:
    func = ATTACKS[name][0]
    kwargs = {"n": flood // ATTACKS[name][1]} if name == "idle_flood" else {}
    try:
        results.put(dict(func(port, deadline, **kwargs)))
    except Exception as exc:  # noqa: BLE001 - report, do not hang the run
        results.put({f"client error {type(exc).__name__}": 1})


def _probe(port: int, deadline: float, results: mp.Queue) -> None:
    """GET /healthz on a fresh connection every 20 ms; latencies in ms (None: failed within 10 s)."""
    out: list[float | None] = []
    while time.time() < deadline:
        start = time.perf_counter()
        try:
            with _connect(port) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                ok = s.recv(64).startswith(b"HTTP/1.1 200")
            out.append((time.perf_counter() - start) * 1000 if ok else None)
        except OSError:
            out.append(None)
        time.sleep(0.02)
    results.put(out)


def _sample(pid: int) -> tuple[float, int]:
    rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def run(name: str, server: Server, duration: float, flood: int) -> dict:
    deadline = time.time() + duration * (3 if name == "idle_flood" else 1)  # opening them takes a while here
    probes: mp.Queue = mp.Queue()
    results: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_probe, args=(server.port, deadline, probes))]
    if name != "quiet":
        procs += [mp.Process(target=_attack_proc, args=(name, server.port, deadline, flood, results))
                  for _ in range(ATTACKS[name][1])]
    for p in procs:
        p.start()
    peak_rss, peak_fds = _sample(server.proc.pid)
    while time.time() < deadline:
        rss, fds = _sample(server.proc.pid)
        peak_rss, peak_fds = max(peak_rss, rss), max(peak_fds, fds)
        time.sleep(0.1)
    latencies = probes.get(timeout=120)
    outcomes: collections.Counter = collections.Counter()
    for _ in procs[1:]:
        outcomes.update(results.get(timeout=300))
    for p in procs:
        p.join(60)
    ok = sorted(x for x in latencies if x is not None)
    return {"p50": statistics.median(ok) if ok else float("nan"),
            "p99": ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else float("nan"),
            "max": ok[-1] if ok else float("nan"), "failed": len(latencies) - len(ok), "probes": len(latencies),
            "rss": peak_rss, "fds": peak_fds, "outcomes": dict(outcomes)}


def bench(backend: str, settings: dict, names: list[str], duration: float, flood: int, tmp: Path) -> None:
    with Server(tmp / f"server-{backend}.log", **settings) as server:
        rows = [("quiet", run("quiet", server, duration, flood))]
        for name in names:
            rows.append((name, run(name, server, duration, flood)))
            time.sleep(2)  # let timeouts and evictions settle between attacks
        rows.append(("quiet (after)", run("quiet", server, duration, flood)))
    base = rows[0][1]["p99"]
    print(f"\n{backend}: /healthz latency in ms during each attack ({duration:g} s each; fresh connection per probe)")
    print(f"{'attack':<20} {'p50':>7} {'p99':>8} {'max':>8} {'failed':>8} {'p99/quiet':>9} {'RSS MB':>7} {'fds':>6}  "
          "attackers were answered")
    for name, r in rows:
        print(f"{name:<20} {r['p50']:7.1f} {r['p99']:8.1f} {r['max']:8.1f} {r['failed']:>4}/{r['probes']:<3} "
              f"{r['p99'] / base:9.1f} {r['rss']:7.0f} {r['fds']:6d}  {r['outcomes'] or ''}")
    print("attacks: " + "; ".join(f"{n}: {ATTACKS[n][3].format(flood=flood)}" for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--flood", type=int, default=20_000, help="connections in idle_flood (2 client processes)")
    parser.add_argument("--postgres", default=os.environ.get("PRICECAST_TEST_POSTGRES_URL"))
    parser.add_argument("--only", nargs="*", choices=list(ATTACKS), help="run only these attacks")
    args = parser.parse_args()
    names = args.only or list(ATTACKS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common = {"bootstrap_key": KEY, "log_level": "warning"}
        bench("sqlite", {**common, "data_dir": str(tmp / "var")}, names, args.duration, args.flood, tmp)
        db_names = [n for n in names if ATTACKS[n][2]]
        if args.postgres and db_names:
            with postgres_database(args.postgres) as url:
                bench("postgres", {**common, "data_dir": str(tmp / "var-pg"), "database_url": url, "embedded_worker": "false"},
                      db_names, args.duration, args.flood, tmp)


if __name__ == "__main__":
    main()
