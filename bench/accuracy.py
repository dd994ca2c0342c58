"""Accuracy of the default model: SPX backtest against baselines, AR(1) against the oracle.

SPX: test = last 20% of days, validation = last 10% of the rest (the default protocol).
AR(1): log returns r_t = 0.5 r_{t-1} + e_t, e_t ~ N(0, 0.01^2), 5,000 prices; the oracle knows
phi and forecasts p_{t-1} * exp(phi r_{t-2}) on the same test days.
Goals (issue 3): SPX RMSE <= 1.000x persistence; AR(1) price RMSE <= 1.02x the oracle's and
directional accuracy within 2 points of it; 80%/95% coverage within 3 points of nominal.
Usage: python bench/accuracy.py [--seeds 0 1 2] [--csv PATH]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from models.lstm import LSTMConfig
from models.train import train

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "SPX.csv"
ROWS = ("rmse", "mae", "mape", "mase", "directional_accuracy", "brier", "coverage_80", "coverage_95")


def ar1_prices(n: int = 5000, phi: float = 0.5, sigma: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, sigma, n - 1)
    r = np.zeros(n - 1)
    for t in range(1, n - 1):  # generating the data, not training: a loop over time is fine
        r[t] = phi * r[t - 1] + eps[t]
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


def table(title: str, columns: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(f"{'metric':<22}" + "".join(f"{name:>13}" for name in columns))
    for row in ROWS:
        cells = "".join(f"{c[row]:>13.4f}" if row in c else f"{'':>13}" for c in columns.values())
        print(f"{row:<22}{cells}")


def baselines(m: dict) -> dict[str, dict]:
    return {
        "model": {k: m[k] for k in ROWS},
        "persistence": {k: m[f"persistence_{k}"] for k in ("rmse", "mae", "mape", "mase")},
        "drift": {**{k: m[f"drift_{k}"] for k in ("rmse", "mae", "mape", "mase")},
                  "directional_accuracy": m["drift_directional_accuracy"]},
        "always_up": {"directional_accuracy": m["base_rate"]},
    }


def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def coverage_ok(m: dict) -> bool:
    return abs(m["coverage_80"] - 0.80) <= 0.03 and abs(m["coverage_95"] - 0.95) <= 0.03


def spx(path: Path, seed: int, show: bool) -> None:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    prices = np.array([float(r["adj_close"] or r["close"]) for r in rows])
    result = train(prices, LSTMConfig(), seed=seed, dates=[r["date"] for r in rows], price_field="adj_close")
    m = result.metrics
    if show:
        table(f"SPX seed {seed}: {m['n_test']} test days {m['test_start']} .. {m['test_end']}", baselines(m))
    ratio = m["rmse"] / m["persistence_rmse"]
    print(f"SPX seed {seed}: RMSE {ratio:.4f}x persistence ({verdict(round(ratio, 3) <= 1.0)}); "
          f"direction {m['directional_accuracy']:.3f} vs always-up {m['base_rate']:.3f} (no_edge={m['no_edge']}); "
          f"coverage {m['coverage_80']:.3f}/{m['coverage_95']:.3f} ({verdict(coverage_ok(m))}); "
          f"alpha {m['alpha']:.2f}, train {result.train_seconds:.2f}s")


def ar1(seed: int, show: bool) -> None:
    prices = ar1_prices(seed=0)
    result = train(prices, LSTMConfig(), seed=seed)
    m = result.metrics
    k = np.arange(int(m["test_start"]), prices.size)
    r = np.diff(np.log(prices))
    oracle = prices[k - 1] * np.exp(0.5 * r[k - 2])
    actual, last = prices[k], prices[k - 1]
    o_rmse = float(np.sqrt(np.mean((oracle - actual) ** 2)))
    o_dir = float(np.mean((oracle > last) == (actual > last)))
    if show:
        cols = baselines(m)
        cols["oracle"] = {"rmse": o_rmse, "mae": float(np.mean(np.abs(oracle - actual))),
                          "directional_accuracy": o_dir}
        table(f"AR(1) phi 0.5 seed {seed}: {m['n_test']} test days", cols)
    ratio = m["rmse"] / o_rmse
    gap = m["directional_accuracy"] - o_dir
    print(f"AR(1) seed {seed}: RMSE {ratio:.4f}x oracle ({verdict(ratio <= 1.02)}); direction "
          f"{m['directional_accuracy']:.3f} vs oracle {o_dir:.3f}, gap {100 * gap:+.1f} points "
          f"({verdict(abs(gap) <= 0.02)}); coverage {m['coverage_80']:.3f}/{m['coverage_95']:.3f} "
          f"({verdict(coverage_ok(m))}); train {result.train_seconds:.2f}s")


SWEEP = [
    dict(window=30, hidden_size=32, layers=1),
    dict(window=20, hidden_size=16, layers=1),
    dict(window=60, hidden_size=32, layers=1),
    dict(window=30, hidden_size=64, layers=1),
    dict(window=60, hidden_size=50, layers=2),
]


def sweep(path: Path, seeds: list[int]) -> None:
    """Right-sizing: accuracy and training time of a few sizes, same protocol and seeds."""
    with path.open(newline="") as f:
        spx_prices = np.array([float(r["close"]) for r in csv.DictReader(f)])
    series = {"SPX": spx_prices, "AR(1)": ar1_prices(seed=0)}
    print("\nsize sweep (mean over seeds %s)" % seeds)
    for overrides in SWEEP:
        cells = []
        for name, prices in series.items():
            runs = [train(prices, LSTMConfig(**overrides), seed=s) for s in seeds]
            ratio = np.mean([r.metrics["rmse"] / r.metrics["persistence_rmse"] for r in runs])
            secs = np.mean([r.train_seconds for r in runs])
            cov = np.mean([r.metrics["coverage_80"] for r in runs])
            cells.append(f"{name} rmse/persistence {ratio:.4f} cov80 {cov:.3f} train {secs:.2f}s")
        print(f"{overrides}: " + " | ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sweep", action="store_true", help="also compare a few network sizes")
    args = ap.parse_args()
    if args.sweep:
        sweep(args.csv, args.seeds)
    for i, seed in enumerate(args.seeds):
        spx(args.csv, seed, show=i == 0)
    for i, seed in enumerate(args.seeds):
        ar1(seed, show=i == 0)


if __name__ == "__main__":
    main()
