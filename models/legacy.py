"""Format-1 checkpoints (written before the point forecast could fall back to persistence).

A deployed registry holds them, so they keep forecasting exactly as they did: the net reads
returns scaled by the training part's median and 1.4826 MAD, the forecast is shrunk toward the
training mean by alpha, the volatility is an EWMA over the input window started from the
training scale, and P(up) comes straight from the residual pool. Nothing new is written in
this format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.calibration import conformal_bounds
from models.predict import Predictor


@dataclass
class Scaler:
    """Robust location/scale of daily log returns, fit on the training part only."""

    center: float
    scale: float
    clip: float
    mean: float = 0.0

    def transform(self, returns: np.ndarray) -> np.ndarray:
        return np.clip((returns - self.center) / self.scale, -self.clip, self.clip)

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return self.center + self.scale * scaled


def ewma_sigma(windows: np.ndarray, *, init_var: float, decay: float, clip: float) -> np.ndarray:
    """EWMA volatility at the end of each window of returns, started from init_var: (n,)."""
    w = windows.shape[-1]
    limit = clip * np.sqrt(init_var)
    sq = np.square(np.clip(windows, -limit, limit))
    weights = (1.0 - decay) * decay ** np.arange(w - 1, -1, -1, dtype=np.float64)
    return np.sqrt(decay**w * init_var + sq @ weights)


@dataclass
class LegacyCalibration:
    alpha: float
    z: np.ndarray  # sorted

    def quantiles(self, levels):
        return [(lv, *conformal_bounds(self.z, lv)) for lv in levels]

    def prob_up(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        above = self.z.size - np.searchsorted(self.z, -np.asarray(mu) / np.asarray(sigma), side="right")
        return (above + 0.5) / (self.z.size + 1.0)


class LegacyPredictor(Predictor):
    """A Predictor that forecasts with the format-1 rules."""

    def __init__(self, *, scaler: Scaler, calibration: LegacyCalibration, **kwargs) -> None:
        super().__init__(vol=None, rule=None, calibration=calibration, **kwargs)
        self.scaler = scaler

    @property
    def history(self) -> int:
        return self.window + 1

    def _inputs(self, windows: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return self.scaler.transform(windows)

    def _sigma(self, r: np.ndarray, targets: np.ndarray, windows: np.ndarray) -> np.ndarray:
        return ewma_sigma(windows, init_var=self.scaler.scale**2, decay=self.config.vol_decay,
                          clip=self.config.input_clip)

    def _moments(self, g, windows, sigma):
        m = self.scaler.mean
        mu = m + self.calibration.alpha * (self.scaler.inverse(g) - m)
        return mu, self.calibration.prob_up(mu, sigma)

    def _up(self, mu: np.ndarray, predicted: np.ndarray, last: np.ndarray) -> np.ndarray:
        return predicted > last
