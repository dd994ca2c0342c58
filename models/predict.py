"""Predictor: a trained net with its volatility filter, point rule and calibration, turning prices into forecasts.

For the price after index k-1 (target k): sigma = the volatility forecast from the returns before
it (models.volatility), the net reads the last `window` returns divided by sigma (clipped to
+-input_clip), and the point rule turns its output into a log-return forecast mu
(models.calibration). A window whose returns are all exactly 0 (a stale price) forecasts no
change. Direction: up when mu > 0, down when mu < 0, and the base rate's direction when mu is 0
(persistence has no direction of its own).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.calibration import PointRule, check_levels
from models.errors import ConfigError, InsufficientData
from models.lstm import LSTMConfig, PriceLSTM
from models.seasonality import Profile
from models.volatility import Volatility, horizon
from models.windows import check_prices, return_windows


def history_for(config: dict) -> int:
    """Predictor.history from a stored config (window, vol_decay), without loading the checkpoint.

    Format-1 checkpoints read only window + 1 prices; asking them for more is harmless.
    """
    return max(int(config["window"]), horizon(float(config.get("vol_decay", 0.94)))) + 1


@dataclass
class Prediction:
    """The next-day forecast on the price scale."""

    last_price: float
    predicted_price: float
    predicted_return: float  # simple return predicted_price / last_price - 1
    trend: str  # 'up' or 'down'
    prob_up: float
    intervals: list[tuple[int, float, float]]  # (level, low, high), ascending by level


_BUILDING = threading.Lock()


def state_shapes(config: LSTMConfig) -> dict[str, tuple[int, ...]]:
    """The tensors a PriceLSTM of this config holds, by state_dict name, with their shapes."""
    h = config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(config.layers):
        shapes |= {f"lstm.weight_ih_l{k}": (4 * h, 1 if k == 0 else h), f"lstm.weight_hh_l{k}": (4 * h, h),
                   f"lstm.bias_ih_l{k}": (4 * h,), f"lstm.bias_hh_l{k}": (4 * h,)}
    return shapes | {"head.weight": (1, h), "head.bias": (1,)}


def check_state(config: LSTMConfig, state: dict[str, torch.Tensor]) -> None:
    """ConfigError unless state holds exactly the float tensors a PriceLSTM of this config needs."""
    want = state_shapes(config)
    if set(state) != set(want):
        raise ConfigError(f"tensors {sorted(set(state) ^ set(want))}: missing or unexpected for this config")
    for name, shape in want.items():
        t = state[name]
        if tuple(t.shape) != shape or t.dtype != torch.float32:
            raise ConfigError(f"{name}: {t.dtype} {tuple(t.shape)}, expected torch.float32 {shape}")


class Predictor:
    """Everything needed to forecast: built from a TrainResult or loaded from a checkpoint."""

    def __init__(self, *, config: LSTMConfig, vol: Volatility | None, rule: PointRule | None, calibration: Any,
                 net: PriceLSTM | None = None, state: dict[str, torch.Tensor] | None = None,
                 price_field: str = "close", metrics: dict | None = None,
                 data_end: str | None = None, profile: Profile | None = None) -> None:
        """Give the net, or its state (tensors by state_dict name): the module is then built on first use.

        A batch forecast reads only the tensors (stacked_forward), so a server holding 10,000 loaded
        models keeps no nn.Module for them: about half the memory, and a third of the load time.
        """
        if (net is None) == (state is None):
            raise ConfigError("give a Predictor its net or its state, not both or neither")
        self.config, self.vol, self.rule, self.calibration = config, vol, rule, calibration
        self.price_field, self.metrics, self.data_end, self.profile = price_field, metrics or {}, data_end, profile
        self._net = net
        self._state = None if state is None else {k: v.detach().requires_grad_(False) for k, v in state.items()}
        if net is not None:
            self._ready(net)
        else:
            check_state(config, self._state)

    @staticmethod
    def _ready(net: PriceLSTM) -> None:
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)

    @property
    def net(self) -> PriceLSTM:
        """The module; built from the state on first use (its parameters share the state's memory)."""
        if self._net is None:
            with _BUILDING:  # request threads share cached predictors
                if self._net is None:
                    net = PriceLSTM(self.config)
                    net.load_state_dict(self._state, assign=True)
                    self._ready(net)
                    self._net = net
        return self._net

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        """The net's tensors by state_dict name, without building the module."""
        return self._state if self._state is not None else self._net.state_dict()

    @property
    def nbytes(self) -> int:
        """Bytes held by the weights and the calibration pool."""
        tensors = sum(t.numel() * t.element_size() for t in self.weights.values())
        return tensors + int(getattr(getattr(self.calibration, "z", None), "nbytes", 0))

    @property
    def window(self) -> int:
        return self.config.window

    @property
    def history(self) -> int:
        """Prices a forecast reads: window + 1 at least; the volatility filter's horizon + 1 in full.

        Fewer (but at least window + 1) still forecast: the filter then starts from the training
        variance that many days back instead of `horizon` days back.
        """
        return max(self.window, self.vol.horizon) + 1  # = history_for(config)

    @classmethod
    def from_result(cls, result: Any) -> Predictor:
        """The predictor of a models.train.TrainResult."""
        net = PriceLSTM(result.config)
        net.load_state_dict(result.state_dict)
        return cls(config=result.config, net=net, vol=result.vol, rule=result.rule, calibration=result.calibration,
                   price_field=result.price_field, metrics=result.metrics, data_end=result.data_end,
                   profile=getattr(result, "profile", None))

    def _factors(self, n: int, slots: np.ndarray | None) -> np.ndarray | None:
        """The volatility factor of each of n bars (None: no profile, or no slots given)."""
        if self.profile is None or slots is None:
            return None
        slots = np.asarray(slots, dtype=np.int64)
        if slots.size < n:
            raise ConfigError(f"slots={slots.size} items: need at least {n} (one per price, and the target's)")
        return self.profile.of(slots[:n])

    # -- the pieces a format-1 (models.legacy) predictor replaces --
    def _sigma(self, r: np.ndarray, targets: np.ndarray, windows: np.ndarray) -> np.ndarray:
        return self.vol.sigma_path(r)[targets - 1]

    def _inputs(self, windows: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        clip = self.config.input_clip
        return np.clip(windows / sigma[:, None], -clip, clip)  # (n, window)

    def _moments(self, g: np.ndarray, windows: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = self.rule.mu(sigma, g, np.all(windows == 0.0, axis=1))
        return mu, self.calibration.prob_up(mu, sigma)

    def _up(self, mu: np.ndarray, predicted: np.ndarray, last: np.ndarray) -> np.ndarray:
        """The direction call: the sign of mu, or the base rate's direction where mu is exactly 0."""
        return (mu > 0) | ((mu == 0) & (self.calibration.p0 >= 0.5))

    # -- the vectorised path: many target days of one series (backtest, score) --
    def forecast(self, prices: np.ndarray, targets: np.ndarray, levels: Sequence[int] = (80, 95),
                 slots: np.ndarray | None = None) -> dict:
        """Forecast price k for each target index k, using only prices[:k]. Arrays keyed by name.

        slots (intraday models): the slot of every price, and of price len(prices) when it is a target.
        """
        p = check_prices(prices)
        targets = np.asarray(targets, dtype=np.int64)
        r = np.diff(np.log(p))
        f = self._factors(int(targets.max(initial=p.size - 1)) + 1, slots)
        if f is not None:
            r = r / f[1:p.size]
        windows = return_windows(r, self.window, targets)  # (n, window)
        sigma = self._sigma(r, targets, windows)
        g = self._net_output(self._inputs(windows, sigma))
        if f is not None:
            sigma = sigma * f[targets]
        out = self._finish(g, windows, sigma, p[targets - 1], levels)
        out["up"] = self._up(out["mu"], out["predicted"], out["last"])
        return out

    def _net_output(self, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
        t = torch.from_numpy(x.astype(np.float32)).unsqueeze(-1)  # (n, window, 1)
        with torch.inference_mode():
            out = [self.net(t[i : i + chunk])[0] for i in range(0, t.shape[0], chunk)]
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def _finish(self, g: np.ndarray, windows: np.ndarray, sigma: np.ndarray, last: np.ndarray, levels) -> dict:
        mu, prob_up = self._moments(g, windows, sigma)
        out = {"last": last, "mu": mu, "sigma": sigma, "predicted": last * np.exp(mu), "prob_up": prob_up}
        for level, zlo, zhi in self.calibration.quantiles(check_levels(levels)):
            out[f"low_{level}"] = last * np.exp(mu + sigma * zlo)
            out[f"high_{level}"] = last * np.exp(mu + sigma * zhi)
        return out

    # -- the single-series path used by the forecast endpoint --
    def _prepare(self, prices: np.ndarray, slots: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
        """The net's input for the day after the last price (1, window), and what _prediction needs.

        slots (intraday models): one per price and one more for the bar being forecast.
        """
        w = self.window
        p = np.asarray(prices, dtype=np.float64)
        if p.ndim != 1 or p.size < w + 1:
            n = p.size if p.ndim == 1 else 0
            raise InsufficientData(
                f"prices={n} rows: a forecast needs at least window+1={w + 1} prices (history={self.history} "
                "for the full volatility estimate)", needed=w + 1, available=n)
        p = check_prices(p[-self.history :])
        r = np.diff(np.log(p))
        f = None
        if slots is not None and self.profile is not None:
            slots = np.asarray(slots, dtype=np.int64)
            f = self._factors(p.size + 1, slots[-(p.size + 1):])
            r = r / f[1:-1]
        windows = r[None, -w:]  # (1, window)
        sigma = self._sigma(r, np.array([p.size]), windows)
        x = self._inputs(windows, sigma)
        if f is not None:
            sigma = sigma * f[-1]
        return x, (windows, sigma, float(p[-1]))

    def _prediction(self, g: float, prepared: tuple, levels) -> Prediction:
        windows, sigma, last = prepared
        out = self._finish(np.array([g]), windows, sigma, np.array([last]), levels)
        predicted = float(out["predicted"][0])
        return Prediction(
            last_price=last,
            predicted_price=predicted,
            predicted_return=predicted / last - 1.0,
            trend="up" if self._up(out["mu"], out["predicted"], out["last"])[0] else "down",
            prob_up=float(out["prob_up"][0]),
            intervals=[(lv, float(out[f"low_{lv}"][0]), float(out[f"high_{lv}"][0])) for lv in check_levels(levels)],
        )

    def predict(self, prices: np.ndarray, levels: Sequence[int] = (80, 95),
                slots: np.ndarray | None = None) -> Prediction:
        """Forecast the step after the last price from the last `history` prices (window+1 at least).

        slots (intraday models): the slot of each price and of the bar being forecast (len(prices) + 1).
        """
        check_levels(levels)
        x, prepared = self._prepare(prices, slots)
        g = stacked_weights_forward([self.weights], self.config.layers, torch.from_numpy(x.astype(np.float32)))
        return self._prediction(float(g[0]), prepared, levels)


def predict_many(
    predictors: list[Predictor], price_arrays: list[np.ndarray], levels: Sequence[int] = (80, 95),
    slots: list[np.ndarray | None] | None = None,
) -> list[Prediction]:
    """Predict many series at once; predictors with the same architecture share one forward pass.

    slots: per series, None (daily) or the slots of its prices and of the bar being forecast.
    """
    if len(predictors) != len(price_arrays):
        raise ConfigError(f"price_arrays={len(price_arrays)} items: need one per predictor ({len(predictors)})")
    check_levels(levels)
    slots = slots or [None] * len(predictors)
    prepared = [pred._prepare(p, s) for pred, p, s in zip(predictors, price_arrays, slots)]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, pred in enumerate(predictors):
        c = pred.config
        groups.setdefault((c.window, c.hidden_size, c.layers), []).append(i)
    outputs = np.zeros(len(predictors))
    for idx in groups.values():
        x = torch.from_numpy(np.concatenate([prepared[i][0] for i in idx]).astype(np.float32))  # (P, window)
        outputs[idx] = stacked_weights_forward([predictors[i].weights for i in idx], predictors[idx[0]].config.layers,
                                               x).double().numpy()
    return [pred._prediction(outputs[i], prepared[i][1], levels) for i, pred in enumerate(predictors)]


def stacked_forward(nets: list[PriceLSTM], x: torch.Tensor) -> torch.Tensor:
    """Run P same-shaped nets, net p on row p of x (P, window), as batched matmuls: (P,)."""
    return stacked_weights_forward([n.state_dict() for n in nets], nets[0].config.layers, x)


def stacked_weights_forward(weights: list[dict[str, torch.Tensor]], layers: int, x: torch.Tensor) -> torch.Tensor:
    """stacked_forward from the nets' state dicts (PriceLSTM names): no nn.Module needed."""
    h_in = x.unsqueeze(-1)  # (P, window, features)
    with torch.inference_mode():
        for k in range(layers):
            w_ih = torch.stack([w[f"lstm.weight_ih_l{k}"] for w in weights])  # (P, 4H, in)
            w_hh = torch.stack([w[f"lstm.weight_hh_l{k}"] for w in weights]).transpose(1, 2)  # (P, H, 4H)
            bias = torch.stack([w[f"lstm.bias_ih_l{k}"] + w[f"lstm.bias_hh_l{k}"] for w in weights])
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
        w_head = torch.stack([w["head.weight"] for w in weights]).transpose(1, 2)  # (P, H, 1)
        b_head = torch.stack([w["head.bias"] for w in weights]).unsqueeze(1)  # (P, 1, 1)
        return torch.baddbmm(b_head, h_in[:, -1:], w_head).reshape(-1)  # (P,)
