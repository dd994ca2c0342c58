"""Sliding windows over daily log returns, price checks, and the robust scale of returns.

Index convention used across models/: prices p[0..n-1], returns r[j] = log(p[j+1] / p[j]).
The forecast of price k (the target) uses returns r[k-1-window .. k-2], i.e. prices up to k-1.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from models.errors import ConfigError, InsufficientData


def choose_price_field(columns: dict[str, np.ndarray | None]) -> str:
    """Return 'adj_close' when every row has it (no NaN), else 'close'."""
    adj = columns.get("adj_close")
    if adj is not None:
        adj = np.asarray(adj, dtype=np.float64)
        if adj.size > 0 and np.all(np.isfinite(adj)):
            return "adj_close"
    if columns.get("close") is None:
        raise ConfigError("columns=no 'close': a price series needs a close column")
    return "close"


def check_prices(prices: np.ndarray, *, name: str = "prices") -> np.ndarray:
    """Return prices as a 1-D float64 array; refuse NaN, inf, zero and negative values."""
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 1:
        raise ConfigError(f"{name}.shape={p.shape}: must be one-dimensional")
    bad = ~np.isfinite(p) | (p <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(f"{name}[{i}]={float(p[i])!r}: prices must be finite and positive")
    return p


def log_returns(prices: np.ndarray) -> np.ndarray:
    """Daily log returns, one fewer than prices."""
    return np.diff(np.log(prices))


def return_windows(returns: np.ndarray, window: int, targets: np.ndarray) -> np.ndarray:
    """Windows of `window` returns preceding each target price index: (len(targets), window).

    Built from a strided view and fancy indexing, no Python loop over samples. A target may be
    len(prices) (the next, unknown day).
    """
    targets = np.asarray(targets, dtype=np.int64)
    starts = targets - 1 - window
    if targets.size and (starts.min() < 0 or targets.max() > returns.size + 1):
        needed = int(window + 1)
        raise InsufficientData(
            f"prices={returns.size + 1} rows: a forecast needs window+1={needed} prices before it",
            needed=needed,
            available=int(returns.size + 1),
        )
    view = sliding_window_view(returns, window)  # (n_returns - window + 1, window)
    return view[starts]


def robust_scale(returns: np.ndarray) -> float:
    """1.4826 * MAD of the returns (the std for Gaussian returns; a split jump barely moves it)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return 1e-4
    scale = float(1.4826 * np.median(np.abs(r - np.median(r))))
    if not scale > 0:  # flat stretches (MSFT 1986) can make the MAD zero
        scale = float(np.std(r))
    return scale if scale > 0 else 1e-4
