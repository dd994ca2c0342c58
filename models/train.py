"""The training protocol: split, scale, fit with early stopping, calibrate, backtest.

Split (chronological, by target day): test = the last int(n * test_fraction) prices, validation
= the last int(rest * val_fraction) prices before them, training = the windows whose target lies
before validation. The scaler sees training returns only. Loss: Huber on robust-scaled,
clipped log returns (a 2:1 split jump is clipped at input_clip and pulls with bounded force).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from models.calibration import Calibration, fit_alpha
from models.errors import ConfigError, InsufficientData, TrainingFailed, TrainingStopped
from models.evaluate import backtest
from models.lstm import LSTMConfig, PriceLSTM
from models.optim import Adam
from models.predict import Predictor
from models.windows import Scaler, check_prices, ewma_sigma, log_returns

MIN_TRAIN_WINDOWS = 200
MIN_VAL_DAYS = 20
MIN_TEST_DAYS = 20


@dataclass
class EpochInfo:
    """What the on_epoch callback receives after each epoch."""

    epoch: int  # 1-based
    max_epochs: int
    train_loss: float
    val_loss: float
    elapsed_s: float


@dataclass
class TrainResult:
    """A trained, calibrated and backtested model with everything a checkpoint records."""

    config: LSTMConfig
    seed: int
    price_field: str
    data_start: str | None
    data_end: str | None
    n_rows: int
    data_sha256: str
    metrics: dict
    backtest: list[dict]
    history: list[dict]
    train_seconds: float
    windows_per_second: float
    state_dict: dict[str, torch.Tensor]
    scaler: Scaler
    calibration: Calibration
    best_epoch: int = 0
    holdout_days: int = 0


@dataclass
class Split:
    """Target price indices: train [window_start, train_end), val [train_end, test_start), test [test_start, n)."""

    window_start: int  # first trainable target: window + 1
    train_end: int
    test_start: int
    n: int

    @property
    def train_windows(self) -> int:
        return self.train_end - self.window_start


def split(n: int, config: LSTMConfig) -> Split:
    """Chronological split of n prices by target index."""
    n_test = int(n * config.test_fraction)
    rest = n - n_test
    n_val = int(rest * config.val_fraction)
    return Split(train_end=rest - n_val, test_start=rest, n=n, window_start=config.window + 1)


def _enough(n: int, config: LSTMConfig) -> bool:
    s = split(n, config)
    return (
        s.n - s.test_start >= MIN_TEST_DAYS
        and s.test_start - s.train_end >= MIN_VAL_DAYS
        and s.train_windows >= MIN_TRAIN_WINDOWS
    )


def min_rows(config: LSTMConfig) -> int:
    """Fewest prices the default split protocol needs for this config."""
    config.validate()
    n = config.window + 1 + MIN_TRAIN_WINDOWS
    while not _enough(n, config):
        n += 1
    return n


def data_sha256(prices: np.ndarray) -> str:
    """sha256 of the prices as little-endian float64."""
    return hashlib.sha256(np.ascontiguousarray(prices, dtype="<f8").tobytes()).hexdigest()


def train(
    prices: np.ndarray,
    config: LSTMConfig,
    *,
    seed: int,
    dates: Sequence[str] | None = None,
    price_field: str = "close",
    on_epoch: Callable[[EpochInfo], bool | None] | None = None,
    holdout_days: int = 0,
) -> TrainResult:
    """Train, calibrate and backtest one model; the last holdout_days prices are left out entirely."""
    config.validate()
    p = check_prices(prices)
    if dates is not None and len(dates) != p.size:
        raise ConfigError(f"dates={len(dates)} items: must match prices ({p.size})")
    if isinstance(holdout_days, bool) or not isinstance(holdout_days, int) or not 0 <= holdout_days < p.size:
        raise ConfigError(f"holdout_days={holdout_days!r}: must be an integer between 0 and {p.size - 1}")
    if holdout_days:
        p = p[:-holdout_days]
        dates = list(dates[:-holdout_days]) if dates is not None else None
    needed = min_rows(config)
    if p.size < needed:
        raise InsufficientData(
            f"prices={p.size} rows: window={config.window} with the default split needs at least {needed}",
            needed=needed,
            available=int(p.size),
        )
    s = split(p.size, config)
    r = log_returns(p)
    scaler = Scaler.fit(r[: s.train_end - 1], config.input_clip)  # training returns only
    scaled = scaler.transform(r).astype(np.float32)
    view = sliding_window_view(scaled, config.window)  # row k-1-window forecasts price k
    w = config.window

    def tensors(first: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = np.arange(first, stop)
        x = torch.from_numpy(np.ascontiguousarray(view[k - 1 - w])).unsqueeze(-1)  # (n, window, 1)
        return x, torch.from_numpy(scaled[k - 1])  # (n,)

    x_train, y_train = tensors(s.window_start, s.train_end)
    x_val, y_val = tensors(s.train_end, s.test_start)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = PriceLSTM(config)
        gen = torch.Generator().manual_seed(seed)
        history, best_state, best_epoch, train_seconds, seen = _fit(
            net, config, x_train, y_train, x_val, y_val, gen, on_epoch
        )
    net.load_state_dict(best_state)
    net.eval()
    with torch.inference_mode():
        yhat_val = net(x_val)[0].double().numpy()

    # Calibrate on the validation days, then backtest the test days with that predictor.
    m_scaled = (scaler.mean - scaler.center) / scaler.scale
    alpha = fit_alpha(y_val.double().numpy() - m_scaled, yhat_val - m_scaled)
    val_targets = np.arange(s.train_end, s.test_start)
    raw_windows = sliding_window_view(r, w)[val_targets - 1 - w]
    mu_val = scaler.mean + alpha * (scaler.inverse(yhat_val) - scaler.mean)
    sigma_val = ewma_sigma(raw_windows, init_var=scaler.scale**2, decay=config.vol_decay, clip=config.input_clip)
    calibration = Calibration.fit(alpha=alpha, actual=r[val_targets - 1], mu=mu_val, sigma=sigma_val)
    predictor = Predictor(config=config, net=net, scaler=scaler, calibration=calibration, price_field=price_field)
    naive_mae = float(np.mean(np.abs(np.diff(p[: s.train_end]))))
    metrics, rows = backtest(predictor, p, start=s.test_start, naive_mae=naive_mae, dates=dates)
    metrics["alpha"] = alpha
    metrics["best_epoch"] = best_epoch
    metrics["epochs_run"] = len(history)

    # The deployed model also calibrates on the test days (out of sample for the net).
    test_targets = np.arange(s.test_start, p.size)
    f = predictor.forecast(p, test_targets, levels=(80,))
    calibration = calibration.extend(r[test_targets - 1], f["mu"], f["sigma"])

    return TrainResult(
        config=config,
        seed=seed,
        price_field=price_field,
        data_start=dates[0] if dates is not None else None,
        data_end=dates[-1] if dates is not None else None,
        n_rows=int(p.size),
        data_sha256=data_sha256(p),
        metrics=metrics,
        backtest=rows,
        history=history,
        train_seconds=train_seconds,
        windows_per_second=seen / train_seconds if train_seconds > 0 else 0.0,
        state_dict={k: v.detach().clone() for k, v in net.state_dict().items()},
        scaler=scaler,
        calibration=calibration,
        best_epoch=best_epoch,
        holdout_days=holdout_days,
    )


def _fit(net, config, x_train, y_train, x_val, y_val, gen, on_epoch):
    """The epoch loop: shuffled whole-tensor batches, clipping, early stopping on val loss."""
    opt = Adam(net.parameters(), lr=config.lr)
    n = x_train.shape[0]
    history: list[dict] = []
    best_loss, best_epoch, best_state, stale, seen = float("inf"), 0, None, 0, 0
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, config.batch_size):
            idx = order[i : i + config.batch_size]
            _, loss = net(x_train[idx], y_train[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            opt.step()
            total += float(loss.detach()) * idx.numel()
        seen += n
        net.eval()
        with torch.inference_mode():
            val_loss = float(net(x_val, y_val)[1])
        train_loss = total / n
        if not (np.isfinite(train_loss) and np.isfinite(val_loss)):
            raise TrainingFailed(
                f"loss became {train_loss if not np.isfinite(train_loss) else val_loss} at epoch {epoch}: "
                f"lower lr (now {config.lr}) or grad_clip (now {config.grad_clip})"
            )
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        elapsed = time.perf_counter() - start
        if on_epoch is not None and on_epoch(EpochInfo(epoch, config.epochs, train_loss, val_loss, elapsed)):
            raise TrainingStopped(f"training stopped by the caller after epoch {epoch}", epoch=epoch)
        if stale >= config.patience:
            break
    return history, best_state, best_epoch, time.perf_counter() - start, seen
