"""Forecast serving speed against the real server (`pricecast serve`, as a user runs it).

Loads SPX, MSFT and IBM plus 100 synthetic random-walk tickers, trains them all on the embedded
worker, then drives POST /forecast and the trivial GET /healthz of the same app with the same
load generator from a separate process (wrk from Debian's packages when installed, else an
asyncio httpx client), and prints requests/s, p50 and p99 of both and their ratio, and the
server's CPU time per request (from /proc: it barely moves when other processes load the
machine, so it is the number to compare two versions by on a shared host). Also times
a 100-ticker batch, and the cold path: the first forecast after new prices (answer cache miss)
and after activating a version not loaded yet (model cache miss).

    .venv/bin/python bench/serve.py [--duration 10] [--connections 16] [--client wrk|httpx]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _server import Server, data_path, synthetic_csv, wait_jobs

LUA = """
wrk.method = "{method}"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format('{{"rps": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}}\\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk(url: str, method: str, body: str, connections: int, duration: float, tmp: Path) -> dict:
    script = tmp / f"{method}.lua"
    script.write_text(LUA.format(method=method, body=body))
    out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(duration))}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def httpx_load(url: str, method: str, body: str, connections: int, duration: float, tmp: Path) -> dict:
    code = f"""
import asyncio, json, time, httpx
async def main():
    lat, errors, stop = [], 0, time.monotonic() + {duration}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections={connections})) as c:
        async def one():
            nonlocal errors
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = await c.request({method!r}, {url!r}, content={body!r}, headers={{"content-type": "application/json"}})
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200
        start = time.monotonic()
        await asyncio.gather(*(one() for _ in range({connections})))
        lat.sort()
        print(json.dumps({{"rps": len(lat) / (time.monotonic() - start), "p50_ms": lat[len(lat) // 2] * 1e3,
                          "p99_ms": lat[int(len(lat) * 0.99)] * 1e3, "errors": errors}}))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx")
    args = parser.parse_args()
    load = wrk if args.client == "wrk" else httpx_load
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = {"data_dir": str(tmp / "var"), "promotion_policy": "always", "keep_versions": "20"}
        with Server(tmp / "server.log", **settings) as server, httpx.Client(base_url=server.url, timeout=120) as c:
            t0 = time.perf_counter()
            for name in ("SPX", "MSFT", "IBM"):
                c.post(f"/series/{name}", content=data_path(f"{name}.csv").read_bytes(), headers={"content-type": "text/csv"})
            c.post("/series", content=synthetic_csv([f"SYN{k:03d}" for k in range(100)], 600), headers={"content-type": "text/csv"})
            c.post("/train", json={"tickers": ["SPX", "MSFT", "IBM"]})
            c.post("/train", json={"tickers": [f"SYN{k:03d}" for k in range(100)], "params": {"epochs": 3}})
            wait_jobs(c)
            print(f"setup: 103 tickers uploaded and trained in {time.perf_counter() - t0:.1f}s ({args.client} load, "
                  f"{args.connections} connections, {args.duration:g}s per run)")

            body = json.dumps({"ticker": "SPX"})
            c.post("/forecast", content=body, headers={"content-type": "application/json"})
            results = {}
            for label, method, path, payload, conns in (
                ("healthz  c=1 ", "GET", "/healthz", "", 1),
                ("forecast c=1 ", "POST", "/forecast", body, 1),
                (f"healthz  c={args.connections}", "GET", "/healthz", "", args.connections),
                (f"forecast c={args.connections}", "POST", "/forecast", body, args.connections),
            ):
                before = server_cpu(server.proc.pid)
                r = results[label] = load(server.url + path, method, payload, conns, args.duration, tmp)
                r["cpu_us"] = (server_cpu(server.proc.pid) - before) / (r["rps"] * args.duration) * 1e6
                print(f"{label}: {r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms   "
                      f"server CPU {r['cpu_us']:5.0f} us/req   "
                      f"errors {r['errors']}")
            for conns in (1, args.connections):
                f = results[f"forecast c={conns:<2d}".rstrip() if conns != 1 else "forecast c=1 "]
                h = results[f"healthz  c={conns:<2d}".rstrip() if conns != 1 else "healthz  c=1 "]
                print(f"ratio forecast/healthz at c={conns}: throughput {f['rps'] / h['rps']:.2f}x (goal >= 0.5), "
                      f"p50 {f['p50_ms'] / h['p50_ms']:.2f}x, server CPU per request {f['cpu_us'] / h['cpu_us']:.2f}x")

            batch = json.dumps({"tickers": [f"SYN{k:03d}" for k in range(100)]})
            post = lambda b: c.post("/forecast", content=b, headers={"content-type": "application/json"})  # noqa: E731
            cold_batch = timed(lambda: post(batch), 1)
            warm_batch = timed(lambda: post(batch), 20)
            assert len(post(batch).json()["forecasts"]) == 100
            print(f"100-ticker batch: first {cold_batch[0]:.1f} ms, then p50 {statistics.median(warm_batch):.1f} ms "
                  f"(goal < 100 ms)")

            header = "date,close,adj_close\n"
            day = np.datetime64("2019-01-02")
            after_prices = []
            for i in range(10):
                c.post("/series/SPX", content=f"{header}{day + i},{2500 + i},{2500 + i}\n", headers={"content-type": "text/csv"})
                after_prices += timed(lambda: post(body), 1)
            single = timed(lambda: post(body), 50)
            print(f"single forecast (client-side, keep-alive): p50 {statistics.median(single):.2f} ms; first after new "
                  f"prices (answer cache miss): p50 {statistics.median(after_prices):.2f} ms")
            for seed in range(4):
                c.post("/series/IBM/train", json={"seed": 100 + seed})
                wait_jobs(c)
            versions = [m["version"] for m in c.get("/series/IBM/models").json()["models"]]
            body_ibm = json.dumps({"ticker": "IBM"})
            cold = []
            for v in versions[1:]:
                c.post(f"/series/IBM/models/{v}/activate")
                cold += timed(lambda: post(body_ibm), 1)
            print(f"first forecast after activating a version not loaded yet (checkpoint load + verify): "
                  f"p50 {statistics.median(cold):.2f} ms over {len(cold)} activations")


if __name__ == "__main__":
    main()
