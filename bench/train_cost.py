"""Training cost: models.train.estimate_cost against measured peak memory and seconds per epoch.

Each configuration trains in a fresh process with one torch thread (as the workers run) on a
synthetic random walk; the peak is the process's maximum RSS minus its RSS just before train()
(imports and data already loaded), the time is the training loop's seconds / epochs run.
Usage: python bench/train_cost.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = [  # (n_prices, overrides)
    (2000, dict()),
    (8000, dict()),
    (8000, dict(window=60, hidden_size=64)),
    (8000, dict(window=120, hidden_size=128, layers=2, batch_size=1024)),
    (20000, dict(window=30, hidden_size=32, batch_size=4096)),
    (4000, dict(window=256, hidden_size=256, layers=2, batch_size=512)),
]
CHILD = """
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from models.lstm import LSTMConfig
from models.train import estimate_cost, train
n, overrides = json.loads(sys.argv[1])
config = LSTMConfig(**{"epochs": 2, "patience": 100, **overrides})
prices = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
before = rss()
result = train(prices, config, seed=0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
est = estimate_cost(n, config)
print(json.dumps({"peak": peak, "sec_epoch": result.train_seconds / len(result.history),
                  "est_peak": est.peak_bytes, "est_sec": est.seconds_per_epoch_estimate, "windows": est.windows}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the first three configurations")
    args = ap.parse_args()
    grid = GRID[:3] if args.quick else GRID
    print(f"{'n':>6} {'config':<55} {'windows':>8} {'peak MB':>8} {'est MB':>8} {'ratio':>6} "
          f"{'s/epoch':>8} {'est s':>8} {'ratio':>6}")
    for n, overrides in grid:
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([n, overrides])], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        m = json.loads(out.stdout)
        print(f"{n:>6} {json.dumps(overrides):<55} {m['windows']:>8} {m['peak'] / 1e6:>8.1f} "
              f"{m['est_peak'] / 1e6:>8.1f} {m['est_peak'] / max(m['peak'], 1):>6.2f} {m['sec_epoch']:>8.3f} "
              f"{m['est_sec']:>8.3f} {m['est_sec'] / m['sec_epoch']:>6.2f}")


if __name__ == "__main__":
    main()
