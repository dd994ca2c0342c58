"""The training protocol in three steps: prepare the data, fit the net, calibrate and backtest.

Split (chronological, by target day): test = the last max(20, int(n * test_fraction)) prices,
validation = the last max(20, int(rest * val_fraction)) before them, training = the windows whose
target lies before validation, at least 40 of them. A series too short for config.window gets a
shorter window (down to 8), so the fewest prices that train are 89 with the default fractions
(`min_rows`); the window used is the one in TrainResult.config.

The net reads daily log returns divided by the volatility known at forecast time
(models.volatility; its starting variance and the cap on one return come from the training part
only) and learns the next return in the same units (Huber loss, inputs and targets clipped at
+-input_clip). The point rule (persistence, drift or the net), P(up)'s distance from the base
rate and the intervals are fit on days the net never trained on (models.calibration); the test
part is only forecast.

`train` = `prepare` + `fit` + `finish`; each step is a function of its own so that many series
can share the middle one (stacked weights) and still give the same model each.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from models.calibration import Calibration, PointRule, base_rate
from models.errors import ConfigError, InsufficientData
from models.evaluate import backtest
from models.lstm import LSTMConfig, PriceLSTM
from models.predict import Predictor
from models.seasonality import Profile
from models.stacked import EVAL_CHUNK, Fitted, StackEpoch, fit_stack, stack_key
from models.volatility import Volatility, ewma_baseline_sigma
from models.windows import check_prices, log_returns, return_windows, robust_scale

MIN_WINDOW = 8
MIN_TRAIN_WINDOWS = 40
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

    config: LSTMConfig  # as used: window may be shorter than requested on a short series
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
    vol: Volatility
    rule: PointRule
    calibration: Calibration
    best_epoch: int = 0
    profile: Profile | None = None  # intraday: volatility factors per slot (models/seasonality.py)

    def predictor(self) -> Predictor:
        return Predictor.from_result(self)


@dataclass
class Split:
    """Target price indices: train [window + 1, train_end), val [train_end, test_start), test [test_start, n)."""

    window: int  # the window used (config.window, or shorter on a short series)
    train_end: int
    test_start: int
    n: int

    @property
    def window_start(self) -> int:
        return self.window + 1

    @property
    def train_windows(self) -> int:
        return self.train_end - self.window_start


def split(n: int, config: LSTMConfig) -> Split:
    """Chronological split of n prices by target index; InsufficientData below the minimum."""
    n_test = max(MIN_TEST_DAYS, int(n * config.test_fraction))
    rest = n - n_test
    n_val = max(MIN_VAL_DAYS, int(rest * config.val_fraction))
    train_end = rest - n_val
    window = min(config.window, train_end - 1 - MIN_TRAIN_WINDOWS)
    if window < MIN_WINDOW:
        needed = min_rows(config)
        raise InsufficientData(
            f"prices={n} rows: training needs at least {needed} ({MIN_TEST_DAYS} test days, {MIN_VAL_DAYS} "
            f"validation days and {MIN_TRAIN_WINDOWS} training windows of at least {MIN_WINDOW} returns)",
            needed=needed, available=n)
    return Split(window=window, train_end=train_end, test_start=rest, n=n)


def min_rows(config: LSTMConfig) -> int:
    """Fewest prices that train with this config's fractions (the window shrinks to fit, down to 8)."""
    config.validate()
    n = MIN_WINDOW + 1 + MIN_TRAIN_WINDOWS + MIN_VAL_DAYS + MIN_TEST_DAYS
    while True:
        n_test = max(MIN_TEST_DAYS, int(n * config.test_fraction))
        rest = n - n_test
        if rest - max(MIN_VAL_DAYS, int(rest * config.val_fraction)) - 1 - MIN_TRAIN_WINDOWS >= MIN_WINDOW:
            return n
        n += 1


@dataclass(frozen=True)
class Cost:
    """What a training run will take, estimated before it starts (see estimate_cost)."""

    peak_bytes: int  # memory above the process's baseline
    seconds_per_epoch_estimate: float  # on one core of the build machine; scale for others
    windows: int  # training windows per epoch


# Calibrated with bench/train_cost.py (peak RSS above the pre-training baseline and epoch time of
# real runs over a grid of sizes, one torch thread, the 2-core build machine): estimates land
# within 0.7-1.5x of the measured peaks and 0.6-1.3x of the epoch times; docs/benchmarks.md.
FIXED_BYTES = 20_000_000  # backtest rows, torch scratch: what a tiny run still takes
BYTES_PER_WINDOW_STEP = 32  # per target and window step: float32 inputs + float64 temporaries
TRAIN_BYTES_PER_ACTIVATION = 64  # autograd keeps ~16 floats per (batch row, step, hidden unit, layer)
EVAL_BYTES_PER_ACTIVATION = 24  # a forward pass without autograd: ~6 floats
FLOPS_PER_SECOND = 2.0e10  # LSTM forward + backward throughput on one core
SECONDS_PER_BATCH = 4e-4  # Python and dispatch overhead of one optimiser step


def estimate_cost(n_prices: int, config: LSTMConfig) -> Cost:
    """Peak memory and seconds per epoch of train(prices of this length, config), without running it.

    Memory: the series' windows (n x window) + the larger of the activations autograd keeps for
    one batch and those of one evaluation chunk (rows x window x hidden x layers) + parameters
    with their gradient and two Adam moments. Time: the LSTM's multiply-adds (forward + backward
    = 3 x forward) over the training windows plus a fixed cost per batch. InsufficientData if
    the series is too short to train at all.
    """
    config.validate()
    s = split(int(n_prices), config)
    w, h, layers = s.window, config.hidden_size, config.layers
    targets = n_prices - w - 1
    data = targets * w * BYTES_PER_WINDOW_STEP
    step = w * h * layers
    activations = max(min(config.batch_size, s.train_windows) * step * TRAIN_BYTES_PER_ACTIVATION,
                      min(EVAL_CHUNK, targets) * step * EVAL_BYTES_PER_ACTIVATION)
    params = sum(4 * h * ((1 if k == 0 else h) + h + 2) for k in range(layers)) + h + 1
    flops = 3 * 2 * s.train_windows * w * layers * 4 * h * (2 * h)
    batches = -(-s.train_windows // config.batch_size)
    seconds = flops / FLOPS_PER_SECOND + batches * SECONDS_PER_BATCH
    return Cost(peak_bytes=int(FIXED_BYTES + data + activations + 16 * params),
                seconds_per_epoch_estimate=float(seconds), windows=int(s.train_windows))


def data_sha256(prices: np.ndarray) -> str:
    """sha256 of the prices as little-endian float64."""
    return hashlib.sha256(np.ascontiguousarray(prices, dtype="<f8").tobytes()).hexdigest()


@dataclass
class Prepared:
    """One series made ready for the net: every target's inputs, target, volatility and stale flag."""

    prices: np.ndarray
    dates: list[str] | None
    price_field: str
    config: LSTMConfig  # with the window used
    split: Split
    returns: np.ndarray
    vol: Volatility
    sigma: np.ndarray  # (n,) sigma[j] forecasts r[j], so target price k uses sigma[k - 1]
    x: np.ndarray  # (n - window - 1, window) float32 inputs of targets window+1 .. n-1
    y: np.ndarray  # (n - window - 1,) float32 scaled, clipped next returns
    stale: np.ndarray  # (n - window - 1,) bool: every return in the window is 0
    center: float  # mean of the training targets: the drift, in units of sigma
    profile: Profile | None = None  # intraday: volatility factor per slot, fit on the training part
    slots: np.ndarray | None = None  # (n,) the slot of each price (intraday), else None

    def rows(self, first: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (n, window, 1) and targets (n,) of target prices first .. stop-1."""
        i = slice(first - self.split.window_start, stop - self.split.window_start)
        return torch.from_numpy(self.x[i]).unsqueeze(-1), torch.from_numpy(self.y[i])


def prepare(prices: np.ndarray, config: LSTMConfig, *, dates: Sequence[str] | None = None,
            price_field: str = "close", slots: np.ndarray | None = None, n_slots: int | None = None) -> Prepared:
    """Check and split the prices; build the scaled windows with statistics from the training part only.

    slots (intraday): the category of each price's bar (models/seasonality.py), n_slots of them;
    returns are divided by their slot's volatility factor before the filter and the net see them.
    """
    config.validate()
    p = check_prices(prices)
    if dates is not None and len(dates) != p.size:
        raise ConfigError(f"dates={len(dates)} items: must match prices ({p.size})")
    s = split(p.size, config)
    config = replace(config, window=s.window)
    r = log_returns(p)
    profile, factor = None, np.ones(p.size)
    if slots is not None:
        slots = np.asarray(slots, dtype=np.int64)
        if slots.shape != p.shape:
            raise ConfigError(f"slots={slots.shape}: need one per price ({p.shape})")
        profile = Profile.fit(r[: s.train_end - 1], slots[1: s.train_end], int(n_slots or slots.max() + 1))
        factor = profile.of(slots)  # factor[k]: the bar of price k; the return into it is r[k - 1]
    rs = r / factor[1:]  # seasonally adjusted returns
    train_r = rs[: s.train_end - 1]  # the returns of the training targets
    vol = Volatility.fit(train_r, decay=config.vol_decay, robust_scale=robust_scale(train_r))
    base = vol.sigma_path(rs)  # (n,): base[j] forecasts rs[j], the return into price j + 1
    sigma = base * np.append(factor[1:], 1.0)  # (n,) the volatility of r[j] itself
    targets = np.arange(s.window_start, p.size)
    windows = return_windows(rs, s.window, targets)  # (n_targets, window)
    sig = base[targets - 1][:, None]
    clip = config.input_clip
    x = np.clip(windows / sig, -clip, clip).astype(np.float32)
    y = np.clip(rs[targets - 1] / sig[:, 0], -clip, clip).astype(np.float32)
    center = float(np.mean(y[: s.train_windows], dtype=np.float64))
    return Prepared(prices=p, dates=list(dates) if dates is not None else None, price_field=price_field,
                    config=config, split=s, returns=r, vol=vol, sigma=sigma,
                    x=x, y=y, stale=np.all(windows == 0.0, axis=1), center=center, profile=profile, slots=slots)


def fit(prepared: Prepared, *, seed: int, on_epoch: Callable[[EpochInfo], bool | None] | None = None,
        should_stop: Callable[[], bool] | None = None) -> Fitted:
    """Fit the net on the training windows with early stopping on the validation windows.

    The stacked kernel (models/stacked.py) with one model, so that fit_many gives each series the
    model this gives it. on_epoch(info) after each epoch (True stops); should_stop() between
    batches (True stops): both raise TrainingStopped.
    """
    hook = None
    if on_epoch is not None:
        def hook(e: StackEpoch) -> bool | None:
            return on_epoch(EpochInfo(e.epoch, e.max_epochs, e.train_loss, e.val_loss, e.elapsed_s))
    (out,) = fit_many([prepared], seeds=[seed], on_epoch=hook, should_stop=should_stop)
    if isinstance(out, Exception):
        raise out
    return out


def fit_many(prepared: Sequence[Prepared], *, seeds: Sequence[int],
             on_epoch: Callable[[StackEpoch], bool | None] | None = None,
             should_stop: Callable[[], bool] | None = None, kernel: str = "fused") -> list[Fitted | Exception]:
    """fit() for many series at once: those with equal configs (window as used) train as one stack.

    Returns per series its Fitted, or the exception that ended it alone (TrainingStopped when
    on_epoch(StackEpoch) returned True for it, TrainingFailed on a non-finite loss); should_stop()
    between batches raises TrainingStopped for all. StackEpoch.index is the series' position here.
    kernel: "fused" (torch's LSTM kernel per model) or "bmm" (one batched matmul per step for all).
    """
    if len(seeds) != len(prepared):
        raise ConfigError(f"seeds={len(seeds)} items: need one per series ({len(prepared)})")
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault(stack_key(p.config), []).append(i)
    out: list[Fitted | Exception | None] = [None] * len(prepared)
    for members in groups.values():
        data = []
        for i in members:
            p, s = prepared[i], prepared[i].split
            lo, mid, hi = 0, s.train_end - s.window_start, s.test_start - s.window_start
            data.append((p.x[lo:mid], p.y[lo:mid], p.x[mid:hi], p.y[mid:hi]))
        fitted = fit_stack(prepared[members[0]].config, data, [seeds[i] for i in members], on_epoch=on_epoch,
                           should_stop=should_stop, indices=members, kernel=kernel)
        for i, f in zip(members, fitted):
            out[i] = f
    return out  # type: ignore[return-value]


def finish(prepared: Prepared, fitted: Fitted, *, seed: int) -> TrainResult:
    """Choose the point rule and calibrate on pre-test days, then backtest the test days."""
    s, config, r, p = prepared.split, prepared.config, prepared.returns, prepared.prices
    net = PriceLSTM(config)
    net.load_state_dict(fitted.state_dict)
    net.eval()
    x = torch.from_numpy(prepared.x).unsqueeze(-1)  # (n_targets, window, 1)
    with torch.inference_mode():
        g = torch.cat([net(x[i : i + EVAL_CHUNK])[0] for i in range(0, x.shape[0], EVAL_CHUNK)]).double().numpy()
    k = np.arange(s.window_start, s.n)
    sigma, stale, actual = prepared.sigma[k - 1], prepared.stale, r[k - 1]
    val = (k >= s.train_end) & (k < s.test_start)
    candidates = len(fitted.history)  # early stopping picked the best of these epochs on the same days
    rule = PointRule.choose(r=actual[val], sigma=sigma[val], g=g[val], center=prepared.center,
                            drift=prepared.center, stale=stale[val], candidates=candidates)
    mu = rule.mu(sigma, g, stale)
    before_test = k < s.test_start
    p0 = base_rate(r[: s.train_end - 1] > 0)
    pool = Calibration.fit(residuals=((actual - mu) / sigma)[before_test], p0=p0)
    kappa, t_kappa = Calibration.fit_kappa(actual[val] > 0, p0, pool.shift(mu[val], sigma[val]), candidates)
    calibration = Calibration(z=pool.z, p0=p0, kappa=kappa)
    predictor = Predictor(config=config, net=net, vol=prepared.vol, rule=rule, calibration=calibration,
                          price_field=prepared.price_field, profile=prepared.profile)

    test = np.arange(s.test_start, s.n)
    f = predictor.forecast(p, test, slots=prepared.slots)
    train_r = r[: s.train_end - 1]
    baseline = ewma_baseline_sigma(r, init_var=float(np.mean(train_r * train_r)))[test - 1]
    naive_mae = float(np.mean(np.abs(np.diff(p[: s.train_end]))))
    metrics, rows = backtest(f, p, start=s.test_start, naive_mae=naive_mae, base_prob_up=p0,
                             ewma_sigma=baseline, dates=prepared.dates)
    metrics.update({"point_forecast": rule.choice, "alpha": rule.alpha, "drift": rule.drift,
                    "t_drift": _finite(rule.t_drift), "t_model": _finite(rule.t_model), "t_needed": rule.t_needed,
                    "kappa": kappa, "t_kappa": _finite(t_kappa), "window": config.window, "best_epoch": fitted.best_epoch,
                    "epochs_run": len(fitted.history)})
    # The deployed model also calibrates on the test days (out of sample for everything).
    calibration = calibration.extend((r[test - 1] - f["mu"]) / f["sigma"])
    dates = prepared.dates
    return TrainResult(
        config=config, seed=seed, price_field=prepared.price_field,
        data_start=dates[0] if dates is not None else None, data_end=dates[-1] if dates is not None else None,
        n_rows=int(p.size), data_sha256=data_sha256(p), metrics=metrics, backtest=rows, history=fitted.history,
        train_seconds=fitted.train_seconds,
        windows_per_second=fitted.windows_seen / fitted.train_seconds if fitted.train_seconds > 0 else 0.0,
        state_dict={k: v.detach().clone() for k, v in net.state_dict().items()},
        vol=prepared.vol, rule=rule, calibration=calibration, best_epoch=fitted.best_epoch, profile=prepared.profile,
    )


def _finite(x: float) -> float:
    """JSON has no infinity: a perfect fit's t becomes a large finite number."""
    return float(x) if math.isfinite(x) else float(np.sign(x) * 1e300)


def train(
    prices: np.ndarray,
    config: LSTMConfig,
    *,
    seed: int,
    dates: Sequence[str] | None = None,
    price_field: str = "close",
    on_epoch: Callable[[EpochInfo], bool | None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    slots: np.ndarray | None = None,
    n_slots: int | None = None,
) -> TrainResult:
    """Train, calibrate and backtest one model (slots: intraday bars' categories, see prepare)."""
    prepared = prepare(prices, config, dates=dates, price_field=price_field, slots=slots, n_slots=n_slots)
    return finish(prepared, fit(prepared, seed=seed, on_epoch=on_epoch, should_stop=should_stop), seed=seed)
