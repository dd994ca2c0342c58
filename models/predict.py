"""Predictor: a trained net plus its scaler and calibration, turning prices into forecasts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from models.calibration import Calibration, check_levels
from models.errors import ConfigError, InsufficientData
from models.lstm import LSTMConfig, PriceLSTM
from models.windows import Scaler, check_prices, ewma_sigma, return_windows

if TYPE_CHECKING:
    from models.train import TrainResult


@dataclass
class Prediction:
    """The next-day forecast on the price scale."""

    last_price: float
    predicted_price: float
    predicted_return: float  # simple return predicted_price / last_price - 1
    trend: str  # 'up' or 'down'
    prob_up: float
    intervals: list[tuple[int, float, float]]  # (level, low, high), ascending by level


@dataclass
class Predictor:
    """Everything needed to forecast: built from a TrainResult or loaded from a checkpoint."""

    config: LSTMConfig
    net: PriceLSTM
    scaler: Scaler
    calibration: Calibration
    price_field: str = "close"
    metrics: dict = field(default_factory=dict)
    data_end: str | None = None

    def __post_init__(self) -> None:
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @property
    def window(self) -> int:
        return self.config.window

    @property
    def init_var(self) -> float:
        return self.scaler.scale**2

    @classmethod
    def from_result(cls, result: TrainResult) -> Predictor:
        net = PriceLSTM(result.config)
        net.load_state_dict(result.state_dict)
        return cls(
            config=result.config,
            net=net,
            scaler=result.scaler,
            calibration=result.calibration,
            price_field=result.price_field,
            metrics=result.metrics,
            data_end=result.data_end,
        )

    # -- the vectorised path: many target days of one series (backtest, score) --
    def forecast(self, prices: np.ndarray, targets: np.ndarray, levels: Sequence[int] = (80, 95)) -> dict:
        """Forecast price k for each target index k, using only prices[:k]. Arrays keyed by name."""
        p = check_prices(prices)
        targets = np.asarray(targets, dtype=np.int64)
        windows = return_windows(np.diff(np.log(p)), self.window, targets)  # (n, window)
        scaled = self._net_output(self.scaler.transform(windows))
        return self._finish(scaled, windows, p[targets - 1], levels)

    def _net_output(self, scaled_windows: np.ndarray, chunk: int = 8192) -> np.ndarray:
        x = torch.from_numpy(scaled_windows.astype(np.float32)).unsqueeze(-1)  # (n, window, 1)
        with torch.inference_mode():
            out = [self.net(x[i : i + chunk])[0] for i in range(0, x.shape[0], chunk)]
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def _finish(self, scaled: np.ndarray, windows: np.ndarray, last: np.ndarray, levels) -> dict:
        cal = self.calibration
        m = self.scaler.mean
        mu = m + cal.alpha * (self.scaler.inverse(scaled) - m)  # log return, shrunk toward the mean
        sigma = ewma_sigma(windows, init_var=self.init_var, decay=self.config.vol_decay, clip=self.config.input_clip)
        out = {"last": last, "mu": mu, "sigma": sigma, "predicted": last * np.exp(mu)}
        out["prob_up"] = cal.prob_up(mu, sigma)
        for level, zlo, zhi in cal.quantiles(levels):
            out[f"low_{level}"] = last * np.exp(mu + sigma * zlo)
            out[f"high_{level}"] = last * np.exp(mu + sigma * zhi)
        return out

    # -- the single-series fast path used by the forecast endpoint --
    def _prepare(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        w = self.window
        p = np.asarray(prices, dtype=np.float64)
        if p.ndim != 1 or p.size < w + 1:
            n = p.size if p.ndim == 1 else 0
            raise InsufficientData(
                f"prices={n} rows: a forecast needs window+1={w + 1} prices", needed=w + 1, available=n
            )
        p = check_prices(p[-(w + 1) :])
        r = np.diff(np.log(p))[None, :]  # (1, window)
        return r, self.scaler.transform(r), float(p[-1])

    def _prediction(self, scaled: float, r: np.ndarray, last: float, levels) -> Prediction:
        out = self._finish(np.array([scaled]), r, np.array([last]), levels)
        predicted = float(out["predicted"][0])
        return Prediction(
            last_price=last,
            predicted_price=predicted,
            predicted_return=predicted / last - 1.0,
            trend="up" if predicted > last else "down",
            prob_up=float(out["prob_up"][0]),
            intervals=[(lv, float(out[f"low_{lv}"][0]), float(out[f"high_{lv}"][0])) for lv in check_levels(levels)],
        )

    def predict(self, prices: np.ndarray, levels: Sequence[int] = (80, 95)) -> Prediction:
        """Forecast the day after the last price from the last window+1 prices."""
        r, scaled, last = self._prepare(prices)
        x = torch.from_numpy(scaled.astype(np.float32)).unsqueeze(-1)  # (1, window, 1)
        with torch.inference_mode():
            y = float(self.net(x)[0][0])
        return self._prediction(y, r, last, levels)

    def score(self, prices: np.ndarray, start: int) -> dict:
        """One-step-ahead RMSE/MAE of the model and persistence over prices[start:]."""
        from models.evaluate import score

        return score(self, prices, start)


def predict_many(
    predictors: list[Predictor], price_arrays: list[np.ndarray], levels: Sequence[int] = (80, 95)
) -> list[Prediction]:
    """Predict many series at once; predictors with the same architecture share one forward pass."""
    if len(predictors) != len(price_arrays):
        raise ConfigError(f"price_arrays={len(price_arrays)} items: need one per predictor ({len(predictors)})")
    check_levels(levels)
    prepared = [pred._prepare(p) for pred, p in zip(predictors, price_arrays)]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, pred in enumerate(predictors):
        c = pred.config
        groups.setdefault((c.window, c.hidden_size, c.layers), []).append(i)
    outputs = np.zeros(len(predictors))
    for idx in groups.values():
        x = torch.from_numpy(np.concatenate([prepared[i][1] for i in idx]).astype(np.float32))  # (P, window)
        outputs[idx] = stacked_forward([predictors[i].net for i in idx], x).double().numpy()
    return [pred._prediction(outputs[i], prepared[i][0], prepared[i][2], levels) for i, pred in enumerate(predictors)]


def stacked_forward(nets: list[PriceLSTM], x: torch.Tensor) -> torch.Tensor:
    """Run P same-shaped nets, net p on row p of x (P, window), as batched matmuls: (P,)."""
    layers = nets[0].config.layers
    h_in = x.unsqueeze(-1)  # (P, window, features)
    with torch.inference_mode():
        for k in range(layers):
            w_ih = torch.stack([getattr(n.lstm, f"weight_ih_l{k}") for n in nets])  # (P, 4H, in)
            w_hh = torch.stack([getattr(n.lstm, f"weight_hh_l{k}") for n in nets]).transpose(1, 2)  # (P, H, 4H)
            bias = torch.stack([getattr(n.lstm, f"bias_ih_l{k}") + getattr(n.lstm, f"bias_hh_l{k}") for n in nets])
            xp = torch.baddbmm(bias.unsqueeze(1), h_in, w_ih.transpose(1, 2))  # (P, window, 4H)
            h = torch.zeros(x.shape[0], 1, w_hh.shape[1])  # (P, 1, H)
            c = torch.zeros_like(h)
            outs = []
            for t in range(x.shape[1]):
                gates = torch.baddbmm(xp[:, t : t + 1], h, w_hh)  # (P, 1, 4H), PyTorch order i, f, g, o
                i, f, g, o = gates.chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outs.append(h)
            h_in = torch.cat(outs, dim=1)  # (P, window, H)
        w_head = torch.stack([n.head.weight for n in nets]).transpose(1, 2)  # (P, H, 1)
        b_head = torch.stack([n.head.bias for n in nets]).unsqueeze(1)  # (P, 1, 1)
        return torch.baddbmm(b_head, h_in[:, -1:], w_head).reshape(-1)  # (P,)
