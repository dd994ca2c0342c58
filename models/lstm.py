"""The network: an LSTM over scaled daily log returns with a head for the next return."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from models.errors import ConfigError


@dataclass
class LSTMConfig:
    """Network, training and protocol settings. Defaults are the measured, right-sized network."""

    window: int = 30  # past daily returns per sample
    hidden_size: int = 32
    layers: int = 1
    dropout: float = 0.0
    lr: float = 3e-3
    batch_size: int = 256
    epochs: int = 40  # maximum; early stopping usually ends sooner
    patience: int = 4  # epochs without validation improvement before stopping
    grad_clip: float = 1.0  # max global gradient norm
    loss_delta: float = 1.0  # Huber delta, in robust-scale units of the return
    input_clip: float = 5.0  # scaled returns are clipped to +-input_clip (splits, bad ticks)
    vol_decay: float = 0.94  # EWMA decay of the volatility that scales the intervals
    val_fraction: float = 0.1  # of the days before the test part
    test_fraction: float = 0.2  # of all days

    def validate(self) -> LSTMConfig:
        """Raise ConfigError naming the first field whose type or value is out of bounds."""
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = BOUNDS[f.name]
            want_int = f.type in ("int", int)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{f.name}={value!r}: must be a number")
            if want_int and not isinstance(value, int):
                if not float(value).is_integer():
                    raise ConfigError(f"{f.name}={value!r}: must be an integer")
                setattr(self, f.name, int(value))
                value = int(value)
            if not want_int and not math.isfinite(float(value)):
                raise ConfigError(f"{f.name}={value!r}: must be finite")
            if not low <= value <= high:
                raise ConfigError(f"{f.name}={value!r}: must be between {low} and {high}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LSTMConfig:
        """Build and validate a config; unknown keys are an error, missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{unknown[0]}={d[unknown[0]]!r}: unknown config field")
        return cls(**d).validate()


# field -> (min, max), inclusive; shared with the service's request validation.
BOUNDS: dict[str, tuple[float, float]] = {
    "window": (8, 512),
    "hidden_size": (4, 512),
    "layers": (1, 4),
    "dropout": (0.0, 0.9),
    "lr": (1e-5, 1.0),
    "batch_size": (8, 8192),
    "epochs": (1, 1000),
    "patience": (1, 1000),
    "grad_clip": (0.01, 100.0),
    "loss_delta": (0.1, 100.0),
    "input_clip": (1.0, 100.0),
    "vol_decay": (0.5, 0.999),
    "val_fraction": (0.05, 0.5),
    "test_fraction": (0.05, 0.5),
}


class PriceLSTM(nn.Module):
    """nn.LSTM over one feature (the scaled log return) and a linear head for the next one."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        inter_layer = config.dropout if config.layers > 1 else 0.0  # nn.LSTM warns otherwise
        self.lstm = nn.LSTM(1, config.hidden_size, config.layers, batch_first=True, dropout=inter_layer)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, 1)

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out, _ = self.lstm(x)  # (batch, window, hidden)
        pred = self.head(self.drop(out[:, -1])).squeeze(-1)  # (batch,)
        if targets is None:
            return pred, None
        # Huber: extreme returns (an unadjusted split) pull with bounded force.
        loss = nn.functional.huber_loss(pred, targets, delta=self.config.loss_delta)
        return pred, loss
