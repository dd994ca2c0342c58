"""Choosing the point forecast, calibrating P(up) and the intervals, all on days the net never trained on.

Point forecast, in daily log-return units, with sigma the volatility known at forecast time and
g the net's output in units of sigma:

    mu = sigma * (drift + alpha * (g - center))

Three candidates, chosen on the validation days only: persistence (drift = alpha = 0, so the
served price is exactly the last price), the training part's drift, and the net. Each step is
kept only if it lowers the validation squared error significantly: a one-sided test at the
0.1% level (z = 3.09; a Diebold-Mariano t for the drift, a heteroskedasticity-robust t for
alpha). The net's epoch was itself picked on those days (early stopping keeps the best of the
epochs run), so its test is Bonferroni-corrected for that many candidates (0.1% / epochs; z = 3.7
for 10 epochs). Why so strict: a candidate chosen without a real edge raises the error above
persistence on the days that follow (the VIX at 0.1% without the correction: 1.002x), and
"never worse than tomorrow = today" has to hold on every series, not on average. A real edge (an
AR(1) with phi 0.5: t about 9 on 240 days) passes easily. alpha is the least-squares weight of
the net's deviation, clipped to [0, 1].

P(up) moves from the base rate p0 (the up-rate of the training part) by kappa times what the
point forecast implies: p = p0 + kappa * (P(z > -mu/sigma) - P(z > 0)). kappa is the least-squares
fit of the up/down outcomes on the validation days, kept under the same test, else 0: with no
edge P(up) is the base rate exactly.

Intervals are mu + sigma * (order statistics of the pool of residuals z = (r - mu) / sigma),
with split conformal's finite-sample correction; the pool holds every day before the test part
that has a volatility estimate (the filter has no fitted parameters, so those days are out of
sample for it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from models.errors import ConfigError

SIGNIFICANCE = 0.001  # one-sided level of every "is there an edge" test
SIGNIFICANCE_Z = NormalDist().inv_cdf(1 - SIGNIFICANCE)  # 3.09


def threshold(candidates: int = 1) -> float:
    """The z a t must exceed when the best of `candidates` was picked on the same days (Bonferroni)."""
    return NormalDist().inv_cdf(1 - SIGNIFICANCE / max(1, int(candidates)))


def check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    """Return the levels sorted ascending; each must be an integer percentage in 1..99."""
    out = []
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= 99:
            raise ConfigError(f"levels={list(levels)!r}: each level must be an integer between 1 and 99")
        out.append(int(level))
    if not out:
        raise ConfigError("levels=[]: give at least one level")
    return tuple(sorted(set(out)))


def slope_through_origin(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y on x (no intercept) and its heteroskedasticity-robust (HC0) t."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    sxx = float(np.dot(x, x))
    if not sxx > 0:
        return 0.0, 0.0
    b = float(np.dot(x, y)) / sxx
    e = y - b * x
    se = math.sqrt(float(np.dot(x * x, e * e))) / sxx
    return b, (b / se if se > 0 else (math.inf if b != 0 else 0.0))


def improvement_t(loss_old: np.ndarray, loss_new: np.ndarray) -> float:
    """Diebold-Mariano t of the mean loss reduction (positive: the new forecast is better)."""
    d = np.asarray(loss_old, dtype=np.float64) - np.asarray(loss_new, dtype=np.float64)
    if d.size < 2:
        return 0.0
    sd = float(np.std(d, ddof=1))
    mean = float(np.mean(d))
    if not sd > 0:
        return math.inf if mean > 0 else 0.0
    return mean / (sd / math.sqrt(d.size))


@dataclass
class PointRule:
    """mu = sigma * (drift + alpha * (g - center)); persistence when drift = alpha = 0."""

    choice: str = "persistence"  # 'persistence' | 'drift' | 'model'
    drift: float = 0.0  # in units of sigma
    alpha: float = 0.0
    center: float = 0.0  # the net output that carries no signal: the training targets' mean
    t_drift: float = 0.0  # the tests behind the choice, for the record
    t_model: float = 0.0
    t_needed: float = SIGNIFICANCE_Z  # what t_model had to exceed

    def mu(self, sigma: np.ndarray, g: np.ndarray, stale: np.ndarray) -> np.ndarray:
        """Log-return forecast; exactly 0 for persistence and where the price has not moved."""
        mu = np.asarray(sigma) * (self.drift + self.alpha * (np.asarray(g, dtype=np.float64) - self.center))
        return np.where(stale, 0.0, mu)

    def to_dict(self) -> dict:
        return {"choice": self.choice, "drift": self.drift, "alpha": self.alpha, "center": self.center,
                "t_drift": _json(self.t_drift), "t_model": _json(self.t_model), "t_needed": self.t_needed}

    @classmethod
    def choose(cls, *, r: np.ndarray, sigma: np.ndarray, g: np.ndarray, center: float, drift: float,
               stale: np.ndarray, candidates: int = 1) -> PointRule:
        """Pick persistence, drift or the net on validation days (r: returns, sigma, g: net outputs).

        candidates: how many nets the one in g was picked from on these same days (epochs run).
        """
        r, sigma = np.asarray(r, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
        live = ~np.asarray(stale)
        drift_mu = np.where(live, sigma * drift, 0.0)
        t_drift = improvement_t(r * r, (r - drift_mu) ** 2)
        anchor = drift if t_drift > SIGNIFICANCE_Z else 0.0
        base = np.where(live, sigma * anchor, 0.0)
        x = np.where(live, sigma * (np.asarray(g, dtype=np.float64) - center), 0.0)
        alpha, t_model = slope_through_origin(r - base, x)
        needed = threshold(candidates)
        if t_model > needed and alpha > 0:
            return cls("model", anchor, min(alpha, 1.0), center, t_drift, t_model, needed)
        return cls("drift" if anchor else "persistence", anchor, 0.0, center, t_drift, t_model, needed)


def conformal_bounds(z: np.ndarray, level: int) -> tuple[float, float]:
    """Split-conformal bounds from a sorted pool of n residuals: (n+1)-corrected order statistics.

    The upper bound is the ceil((n+1)(1 - tail))-th smallest residual and the lower the
    floor((n+1) tail)-th, which keeps coverage at or above nominal for exchangeable days. Ranks
    past the pool fall back to its extremes.
    """
    n = z.size
    lo = (n + 1) * (100 - level) // 200  # 1-based ranks, in integers: (1 - 0.8) / 2 * 40 is 3.99... in floats
    hi = -(-(n + 1) * (100 + level) // 200)
    return float(z[max(lo, 1) - 1]), float(z[min(hi, n) - 1])


@dataclass
class Calibration:
    """The sorted pool of volatility-normalised residuals, the base rate and how far P(up) moves from it."""

    z: np.ndarray  # sorted, float64
    p0: float  # base rate: P(up) of the training part (smoothed, never 0 or 1)
    kappa: float = 0.0
    _bounds: dict[int, tuple[float, float]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def fit(cls, *, residuals: np.ndarray, p0: float, kappa: float = 0.0) -> Calibration:
        z = np.asarray(residuals, dtype=np.float64)
        z = np.sort(z[np.isfinite(z)])
        if z.size == 0:
            raise ConfigError("calibration residuals=[]: need at least one day before the test part")
        return cls(z=z, p0=float(p0), kappa=float(kappa))

    def extend(self, residuals: np.ndarray) -> Calibration:
        """A calibration whose pool also holds these (out-of-sample) residuals."""
        extra = np.asarray(residuals, dtype=np.float64)
        return Calibration(z=np.sort(np.concatenate([self.z, extra[np.isfinite(extra)]])), p0=self.p0, kappa=self.kappa)

    def quantiles(self, levels: Sequence[int]) -> list[tuple[int, float, float]]:
        """(level, lower z, upper z) of each central interval, ascending by level."""
        out = []
        for level in check_levels(levels):
            if level not in self._bounds:  # the pool never changes: computing bounds was 40% of predict()
                self._bounds[level] = conformal_bounds(self.z, level)
            out.append((level, *self._bounds[level]))
        return out

    def shift(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """P(z > -mu/sigma) - P(z > 0) under the pool: how far the point forecast moves P(up)."""
        threshold = -np.asarray(mu, dtype=np.float64) / np.asarray(sigma, dtype=np.float64)
        above = np.searchsorted(self.z, threshold, side="right")
        return (np.searchsorted(self.z, 0.0, side="right") - above) / (self.z.size + 1.0)

    def prob_up(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """P(next log return > 0): the base rate, moved by kappa times the forecast's shift."""
        p = self.p0 + self.kappa * self.shift(mu, sigma)
        eps = 0.5 / (self.z.size + 1.0)
        return np.clip(p, eps, 1.0 - eps)

    @staticmethod
    def fit_kappa(up: np.ndarray, p0: float, shift: np.ndarray, candidates: int = 1) -> tuple[float, float]:
        """Least-squares kappa of up/down outcomes on the shift, kept only when significant: (kappa, t)."""
        kappa, t = slope_through_origin(np.asarray(up, dtype=np.float64) - p0, shift)
        return (min(kappa, 1.0), t) if t > threshold(candidates) and kappa > 0 else (0.0, t)


def _json(x: float) -> float:
    """JSON has no infinity: a perfect fit's t becomes a large finite number."""
    return float(x) if math.isfinite(x) else math.copysign(1e300, x)


def base_rate(up: np.ndarray) -> float:
    """The smoothed up-rate (ups + 1/2) / (n + 1): never exactly 0 or 1."""
    up = np.asarray(up, dtype=bool)
    return (float(up.sum()) + 0.5) / (up.size + 1.0)
