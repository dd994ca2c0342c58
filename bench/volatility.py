"""Which volatility for the intervals: RiskMetrics (fixed decay 0.94) against two fitted alternatives.

Candidates, each fit by Gaussian likelihood on the training part (the first 72% of days, as the
default split): GARCH(1,1) with variance targeting (grid over alpha and alpha + beta), and a
blend w * EWMA(l1) + (1 - w) * EWMA(l2) of a fast and a slow EWMA (grid). For each series:
- sharpness: the mean 95% width each needs to match the RiskMetrics Gaussian band's test
  coverage (symmetric, oracle quantile on the test days), relative to that band's width;
- calibrated: coverage and width (relative to the Gaussian band) with quantiles of the
  volatility-scaled returns of every day before the test part, as the model calibrates them;
- on synthetic series whose volatility triples at 82%, 90% or 95% of the days (inside the
  test part), calibrated 80% coverage.
The point forecast is 0 (persistence), as on every real series here.
Usage: python bench/volatility.py [--extra]   (--extra: the arch package's series)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import series, vol_jump_prices  # noqa: E402

Z = {80: 1.2815515655446004, 95: 1.959963984540054}


def recursion(r, omega, alpha, beta, v0):
    """Variance forecasts of r[t] from r[:t], vectorised over parameter arrays: (n, G)."""
    v = np.empty((r.size, np.size(alpha)))
    cur = np.full(np.size(alpha), v0)
    for t in range(r.size):
        v[t] = cur
        cur = omega + alpha * r[t] ** 2 + beta * cur
    return v


def nll(v, r):
    return np.sum(np.log(v[20:]) + r[20:, None] ** 2 / v[20:], axis=0)


def garch(r_train, r):
    v0 = np.var(r_train)
    a, p = np.meshgrid(np.linspace(0.01, 0.25, 25), 1 - np.geomspace(0.001, 0.2, 25))
    a, p = a.ravel(), p.ravel()
    omega = v0 * (1 - p)
    i = int(np.argmin(nll(recursion(r_train, omega, a, p - a, v0), r_train)))
    return recursion(r, omega[i], a[i], p[i] - a[i], v0)[:, 0]


def blend(r_train, r):
    v0 = np.var(r_train)
    lams = np.array([0.8, 0.85, 0.9, 0.94, 0.97, 0.98, 0.99, 0.995])
    bank = recursion(r_train, 0.0, 1 - lams, lams, v0)
    best = None
    for i in range(lams.size):
        for j in range(i, lams.size):
            ws = np.linspace(0, 1, 11)
            score = nll(ws * bank[:, [i]] + (1 - ws) * bank[:, [j]], r_train)
            k = int(np.argmin(score))
            if best is None or score[k] < best[0]:
                best = (score[k], i, j, ws[k])
    _, i, j, w = best
    full = recursion(r, 0.0, 1 - lams[[i, j]], lams[[i, j]], v0)
    return w * full[:, 0] + (1 - w) * full[:, 1]


def evaluate(p):
    r = np.diff(np.log(p))
    n = p.size
    n_test = int(0.2 * n)
    test_start = n - n_test
    train_end = test_start - int(0.1 * test_start)
    r_train = r[: train_end - 1]
    k = np.arange(test_start, n)
    rr = r[k - 1]
    base = np.sqrt(recursion(r, 0.0, 0.06, 0.94, np.var(r_train))[:, 0])
    cands = {"ewma.94": base, "garch": np.sqrt(garch(r_train, r)), "blend": np.sqrt(blend(r_train, r))}
    out = {}
    for level in (80, 95):
        cov_b = float(np.mean(np.abs(rr) / base[k - 1] <= Z[level]))
        width_b = float(np.mean(2 * Z[level] * base[k - 1]))
        for name, s in cands.items():
            q = np.quantile(np.abs(rr) / s[k - 1], cov_b)
            out[(name, level, "sharp")] = float(np.mean(2 * q * s[k - 1])) / width_b
            z = r[20 : test_start - 1] / s[20 : test_start - 1]
            lo, hi = np.quantile(z, [(1 - level / 100) / 2, (1 + level / 100) / 2])
            zt = rr / s[k - 1]
            out[(name, level, "cov")] = float(np.mean((zt >= lo) & (zt <= hi)))
            out[(name, level, "width")] = float(np.mean(s[k - 1] * (hi - lo))) / width_b
        out[("gauss", level, "cov")] = cov_b
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", action="store_true")
    args = ap.parse_args()
    names = ("ewma.94", "garch", "blend")
    print("95% width needed to match the Gaussian RiskMetrics band's coverage (x its width), and calibrated "
          "coverage / width (x) at 80% and 95%")
    print(f"{'series':<13} {'gauss cov':>10} " + " ".join(f"{n + ' sharp':>12}" for n in names) + "  "
          + "  ".join(f"{n + ' cal 80 | 95':>30}" for n in names))
    data = series(args.extra)
    for name in ("SPX", "MSFT (close)", "IBM", "NASDAQ", "NASDAQ-2009", "S&P500-2009", "VIX", "WTI"):
        if name not in data:
            continue
        o = evaluate(data[name])
        cells = " ".join(f"{o[(n, 95, 'sharp')]:>12.3f}" for n in names)
        cal = "  ".join(f"{o[(n, 80, 'cov')]:.3f} {o[(n, 80, 'width')]:.3f} | {o[(n, 95, 'cov')]:.3f} "
                        f"{o[(n, 95, 'width')]:.3f}".rjust(30) for n in names)
        print(f"{name:<13} {o[('gauss', 80, 'cov')]:.3f}/{o[('gauss', 95, 'cov')]:.3f} {cells}  {cal}")
    print("\nvolatility x3 inside the test part (3,000 days), calibrated 80% coverage:")
    for seed in range(3):
        for at in (0.82, 0.9, 0.95):
            rng_p = vol_jump_prices(3000, seed=seed) if at == 0.9 else _jump(at, seed)
            o = evaluate(rng_p)
            print(f"  seed {seed} jump at {at:.2f}: " + "  ".join(f"{n} {o[(n, 80, 'cov')]:.3f}" for n in names))


def _jump(at: float, seed: int, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = np.full(n - 1, 0.01)
    s[int(at * (n - 1)) :] *= 3.0
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(size=n - 1) * s)]))


if __name__ == "__main__":
    main()
