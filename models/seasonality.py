"""Intraday seasonality: a volatility multiplier per bar of the session, fit on training bars only.

Intraday returns are not equally volatile through the day: the first bar of a session carries the
move since the last close (a night, a weekend, a lunch break) and the open and close are busier
than midday. The caller (the service knows calendars; this module does not) gives each price a
slot: an integer category, here the bar's index in its session with one extra category for "the
first bar after a market closure". Each slot gets a factor f[s]; the volatility filter and the
net then work on returns divided by their slot's factor, and a forecast's volatility is the
filter's times the target bar's factor, so the intervals widen where the training bars were
more volatile (the open) and narrow where they were calmer.

f[s]^2 is a shrunk mean square of the slot's returns (each return capped at SLOT_CAP robust
standard deviations of its own slot, so one crash does not set the open's volatility for a
year), relative to all training returns, normalised so that f^2 averages 1 over them. A slot
with few training bars is pulled toward 1 (PRIOR_BARS pseudo-bars at the overall mean); a slot
never seen in training has factor 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.errors import ConfigError

PRIOR_BARS = 5.0
SLOT_CAP = 10.0


@dataclass(frozen=True)
class Profile:
    """Volatility factors per slot: f[s] multiplies the volatility of a return into a bar of slot s."""

    factors: np.ndarray  # (n_slots,) float64, > 0

    @classmethod
    def fit(cls, returns: np.ndarray, slots: np.ndarray, n_slots: int) -> Profile:
        """Factors from training returns and the slots of the bars they lead into (same length)."""
        r = np.asarray(returns, dtype=np.float64)
        s = np.asarray(slots, dtype=np.int64)
        if r.shape != s.shape:
            raise ConfigError(f"slots={s.shape}: need one slot per return ({r.shape})")
        if n_slots < 1 or (s.size and (s.min() < 0 or s.max() >= n_slots)):
            raise ConfigError(f"slots: each must lie in 0 .. n_slots-1 = {n_slots - 1}")
        sq = r * r
        if r.size:
            order = np.argsort(s, kind="stable")
            bounds = np.searchsorted(s[order], np.arange(n_slots + 1))
            for k in range(n_slots):  # cap each slot's squares at its own robust scale
                part = order[bounds[k]:bounds[k + 1]]
                if part.size:
                    a = np.abs(r[part])
                    cap = SLOT_CAP * max(1.4826 * float(np.median(a)), 1e-12)
                    sq[part] = np.minimum(sq[part], cap * cap)
        count = np.bincount(s, minlength=n_slots).astype(np.float64)
        total = np.bincount(s, weights=sq, minlength=n_slots)
        overall = float(sq.mean()) if sq.size else 1.0
        if not overall > 0:
            return cls(np.ones(n_slots))
        var = (total + PRIOR_BARS * overall) / (count + PRIOR_BARS)
        f = np.sqrt(var / overall)
        norm = float(np.mean(f[s] ** 2)) if s.size else 1.0
        return cls(f / np.sqrt(norm))

    def of(self, slots: np.ndarray) -> np.ndarray:
        """The factor of each slot (1 for a slot the profile has never seen)."""
        s = np.asarray(slots, dtype=np.int64)
        known = (s >= 0) & (s < self.factors.size)
        return np.where(known, self.factors[np.clip(s, 0, self.factors.size - 1)], 1.0)

    def to_list(self) -> list[float]:
        return [float(v) for v in self.factors]
