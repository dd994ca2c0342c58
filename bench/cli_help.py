"""How fast `pricecast --help` and each subcommand's --help answer (issue #14: under 0.5 s).

Runs each command N times in a fresh process, interleaved with the floor (`python -c pass`, the
interpreter's own start) so load on a shared machine hits both alike, and prints medians, the
time above the floor, and whether torch was loaded (it must not be).

    .venv/bin/python bench/cli_help.py [-n 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = ["", "serve", "import", "forecast", "train", "backtest", "demo", "keys create", "series list", "info"]


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=9)
    n = ap.parse_args().n
    floor: list[float] = []
    times: dict[str, list[float]] = {c: [] for c in COMMANDS}
    for _ in range(n):
        for command in COMMANDS:
            floor.append(wall([sys.executable, "-c", "pass"]))
            times[command].append(wall([str(BIN / "pricecast"), *command.split(), "--help"]))
    base = statistics.median(floor)
    print(f"python -c pass (floor): median {base:.3f} s over {len(floor)} runs")
    for command, runs in times.items():
        med = statistics.median(runs)
        print(f"pricecast {command + ' ' if command else ''}--help: median {med:.3f} s, max {max(runs):.3f} s, "
              f"{med - base:+.3f} s over the floor")
    probe = ("import sys; sys.argv = ['pricecast', 'serve', '--help']\nfrom service.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'sqlalchemy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")[-2]
    print(f"heavy modules loaded by `pricecast serve --help`: {loaded}")


if __name__ == "__main__":
    main()
