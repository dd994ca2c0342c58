"""K independent PriceLSTMs fit in one batched computation (stacked weights, torch.bmm over the models).

Every model keeps what makes it its own: its data windows and scaler (models.train.prepare), its
seed-derived initial weights (those of PriceLSTM(config) after torch.manual_seed(seed)) and
shuffle order (a torch.Generator seeded with the seed), its own gradient clipping and Adam state
and its own early stopping. Only the arithmetic is shared: one bmm per time step for all models.
Each model's loss is the mean over its own batch rows, and the stack minimises the sum of those
losses, so a model's gradient is exactly the one it would have alone (up to floating-point order).

Models whose training parts have different lengths run in one stack: a model with fewer windows
has short or no batches late in the epoch (padded rows weigh zero; a model with no batch skips
that optimiser step). A model that stops early leaves the stack: the rest run without it.
`models.train.fit` is this kernel with K = 1, so a model fit in a stack of many is the model a
single-ticker train() gives.

Models stack when their configs are equal (the window as used included); fit_many partitions
the rest into several stacks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

from models.errors import TrainingFailed, TrainingStopped
from models.lstm import LSTMConfig, PriceLSTM

EVAL_CHUNK = 1024  # windows per model per forward pass outside training (validation loss, calibration)



@dataclass
class StackEpoch:
    """What on_epoch receives for one model of a stack after each epoch it trained."""

    index: int  # the model's position in fit_many's input
    epoch: int  # 1-based
    max_epochs: int
    train_loss: float
    val_loss: float
    elapsed_s: float  # the stack's wall time so far


@dataclass
class Fitted:
    """The net's best weights and how the epochs went (models.train re-exports it)."""

    state_dict: dict[str, torch.Tensor]
    history: list[dict]
    best_epoch: int
    train_seconds: float
    windows_seen: int


def stack_key(config: LSTMConfig) -> tuple:
    """Models whose configs give the same key can share a stack."""
    return tuple(sorted(asdict(config).items()))


def _initial_state(config: LSTMConfig, seed: int) -> dict[str, torch.Tensor]:
    """PriceLSTM's initial weights for this seed, drawn without touching the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = PriceLSTM(config)
    return {k: v.detach() for k, v in net.state_dict().items()}


class _Dropout:
    """Inverted dropout with each model's own generator (the first dim of a stacked tensor is the model)."""

    def __init__(self, p: float, gens: Sequence[torch.Generator]) -> None:
        self.p, self.gens = p, gens

    def one(self, k: int, t: torch.Tensor) -> torch.Tensor:
        return t * (torch.rand(t.shape, generator=self.gens[k]) >= self.p).to(t.dtype) / (1 - self.p)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.one(k, t[k]) for k in range(t.shape[0])])


class _Stack:
    """Parameters (K, ...) of K models in PriceLSTM's layout, their Adam moments and step counts.

    Two forward passes compute the same function. `fused` (the default on CPU) runs each model's
    LSTM through torch's fused kernel (oneDNN) on views of the stacked weights, and everything
    else (head, loss, clipping, Adam) batched over the models: measured the fastest per model on
    the 2-core build machine (docs/benchmarks.md "Scale"). `bmm` runs all models' steps as one
    batched matmul per time step, feature-major (K, 4h, B) so each gate block is contiguous; it
    is what a wide accelerator wants, and the same model up to floating-point order.
    """

    def __init__(self, config: LSTMConfig, states: Sequence[dict[str, torch.Tensor]], *, kernel: str = "fused") -> None:
        if kernel not in ("fused", "bmm"):
            raise ValueError(f"kernel={kernel!r}: must be 'fused' or 'bmm'")
        self.config, self.kernel = config, kernel
        self.names = [f"lstm.{kind}_l{layer}" for layer in range(config.layers)
                      for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + ["head.weight", "head.bias"]
        # weights (K, 4h, in), biases (K, 4h), head weight (K, 1, h), head bias (K, 1)
        params = [torch.stack([s[name] for s in states]) for name in self.names]
        self.params = [p.contiguous().requires_grad_(True) for p in params]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = torch.zeros(len(states), dtype=torch.float64)

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every model not in rows (a long tensor of stack positions)."""
        self.params = [p.detach()[rows].contiguous().requires_grad_(True) for p in self.params]
        self.exp_avg = [m[rows] for m in self.exp_avg]
        self.exp_avg_sq = [v[rows] for v in self.exp_avg_sq]
        self.steps = self.steps[rows]

    def state_dicts(self, params: Sequence[torch.Tensor] | None = None) -> list[dict[str, torch.Tensor]]:
        """PriceLSTM state dicts, one per model, from these (or the given stacked) parameters."""
        params = self.params if params is None else params
        return [{name: p[k].detach().clone() for name, p in zip(self.names, params)} for k in range(params[0].shape[0])]

    def forward(self, x: torch.Tensor, drop: _Dropout | None = None) -> torch.Tensor:
        """Predictions (K, B) for inputs x (K, B, W); drop applies training dropout when set."""
        out = self._fused(x, drop) if self.kernel == "fused" else self._bmm(x, drop)  # (K, B, h)
        if drop is not None:
            out = drop(out)
        w, b = self.params[-2:]
        return torch.baddbmm(b.unsqueeze(-1), out, w.transpose(1, 2)).squeeze(-1)  # (K, B)

    def _fused(self, x: torch.Tensor, drop: _Dropout | None) -> torch.Tensor:
        """The last hidden state (K, B, h): torch.lstm per model on its weights' views."""
        K, B, _ = x.shape
        h, layers = self.config.hidden_size, self.config.layers
        weights = [p.unbind(0) for p in self.params[: 4 * layers]]  # one backward node per tensor, not per view
        zeros = x.new_zeros(1, B, h)
        last = []
        for k in range(K):
            seq = x[k].unsqueeze(-1)  # (B, W, 1)
            for layer in range(layers):
                flat = [weights[4 * layer + j][k] for j in range(4)]
                seq, _, _ = torch.lstm(seq, (zeros, zeros), flat, True, 1, 0.0, True, False, True)  # (B, W, h)
                if drop is not None and layer < layers - 1:
                    seq = drop.one(k, seq)
            last.append(seq[:, -1])
        return torch.stack(last)

    def _bmm(self, x: torch.Tensor, drop: _Dropout | None) -> torch.Tensor:
        """The last hidden state (K, B, h): one baddbmm over the K models per time step."""
        K, B, W = x.shape
        h, layers = self.config.hidden_size, self.config.layers
        seq = x.permute(2, 0, 1).unsqueeze(2)  # (W, K, in, B): the inputs of each step
        hs = None
        for layer in range(layers):
            w_ih, w_hh, b_ih, b_hh = self.params[4 * layer: 4 * layer + 4]
            bias = (b_ih + b_hh).unsqueeze(-1)  # (K, 4h, 1)
            # The input part of every step's gates at once, (W, K, 4h, B), made in that layout so that
            # each step's block is contiguous; unbind, not indexing, so that the backward stacks the
            # W step gradients once instead of adding each into a zero copy.
            pre = (torch.addcmul(bias, w_ih, seq) if seq.shape[2] == 1 else torch.matmul(w_ih, seq) + bias).unbind(0)
            hs, c = None, None
            outs = []
            for t in range(W):
                gates = pre[t] if hs is None else torch.baddbmm(pre[t], w_hh, hs)  # (K, 4h, B)
                i_f, g, o = gates.split([2 * h, h, h], dim=1)
                i, f = torch.sigmoid(i_f).chunk(2, dim=1)  # (K, h, B) each
                g = torch.tanh(g)
                c = i * g if c is None else torch.addcmul(f * c, i, g)
                hs = torch.sigmoid(o) * torch.tanh(c)  # (K, h, B)
                outs.append(hs)
            if layer < layers - 1:
                seq = torch.stack(outs)  # (W, K, h, B)
                if drop is not None:
                    seq = drop(seq.transpose(0, 1)).transpose(0, 1)
        return hs.transpose(1, 2)  # (K, B, h)

    @torch.no_grad()
    def step(self, active: torch.Tensor | None) -> None:
        """Clip each model's gradient to its own norm, then Adam; models not active (K,) bool stay put."""
        config = self.config
        grads = [p.grad for p in self.params]
        K = grads[0].shape[0]
        sq = torch.zeros(K)
        for g in grads:
            sq += g.reshape(K, -1).pow(2).sum(1)
        coef = (config.grad_clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)  # as clip_grad_norm_
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.steps += 1 if active is None else active.double()
        steps = self.steps.clamp(min=1)
        bias2_sqrt = torch.sqrt(1 - b2 ** steps).float()
        step_size = (config.lr / (1 - b1 ** steps)).float()
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            shape = (K,) + (1,) * (p.dim() - 1)
            g = g * coef.view(shape)
            if active is None:
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / bias2_sqrt.view(shape)).add_(eps)
                p.addcdiv_(m * step_size.view(shape), denom, value=-1.0)
            else:
                on = active.view(shape)
                m.copy_(torch.where(on, torch.lerp(m, g, 1 - b1), m))
                v.copy_(torch.where(on, v * b2 + (1 - b2) * g * g, v))
                denom = (v.sqrt() / bias2_sqrt.view(shape)).add_(eps)
                p.sub_(torch.where(on, m * step_size.view(shape) / denom, torch.zeros(())))
            p.grad = None


def _pad(arrays: Sequence[np.ndarray], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, max rows, width) float32 and their row counts (K,)."""
    n = torch.tensor([a.shape[0] for a in arrays])
    out = torch.zeros(len(arrays), int(n.max()), width)
    for k, a in enumerate(arrays):
        out[k, : a.shape[0]] = torch.from_numpy(a)
    return out, n


def _huber_sum(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, delta: float) -> torch.Tensor:
    """Per model: sum over rows of weight * Huber(pred, target)  (K,)."""
    return (F.huber_loss(pred, target, reduction="none", delta=delta) * weight).sum(1)


def _val_loss(stack: _Stack, x: torch.Tensor, y: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Mean validation loss of each model (K,), EVAL_CHUNK rows at a time."""
    total = torch.zeros(x.shape[0], dtype=torch.float64)
    with torch.inference_mode():
        for i in range(0, x.shape[1], EVAL_CHUNK):
            xb, yb = x[:, i: i + EVAL_CHUNK], y[:, i: i + EVAL_CHUNK]
            rows = torch.arange(i, i + xb.shape[1])
            weight = (rows[None, :] < n[:, None]).float()
            total += _huber_sum(stack.forward(xb), yb, weight, stack.config.loss_delta).double()
    return total / n.double()


def fit_stack(config: LSTMConfig, data: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
              seeds: Sequence[int], *, on_epoch: Callable[[StackEpoch], bool | None] | None = None,
              should_stop: Callable[[], bool] | None = None, indices: Sequence[int] | None = None,
              kernel: str = "fused") -> list[Fitted | Exception]:
    """Fit K models of one config: data[k] = (x_train, y_train, x_val, y_val) with x (n, window) float32.

    Returns, per model, its Fitted or the exception that ended it alone: TrainingStopped when
    on_epoch returned True for it, TrainingFailed when its loss became non-finite. should_stop()
    between batches (True) raises TrainingStopped for the whole stack. kernel: see _Stack.
    """
    K = len(data)
    indices = list(range(K)) if indices is None else list(indices)
    W, B = config.window, config.batch_size
    x_tr, n_tr = _pad([d[0] for d in data], W)
    y_tr = _pad([d[1][:, None] for d in data], 1)[0][..., 0]
    x_va, n_va = _pad([d[2] for d in data], W)
    y_va = _pad([d[3][:, None] for d in data], 1)[0][..., 0]
    stack = _Stack(config, [_initial_state(config, s) for s in seeds], kernel=kernel)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    drop_gens = [torch.Generator().manual_seed(int(s) + 1) for s in seeds] if config.dropout > 0 else None
    live = list(range(K))  # stack position -> input position
    results: list[Fitted | Exception | None] = [None] * K
    best = [p.detach().clone() for p in stack.params]  # stacked best weights, indexed by input position
    best_loss = torch.full((K,), math.inf, dtype=torch.float64)
    best_epoch, stale = [0] * K, [0] * K
    history: list[list[dict]] = [[] for _ in range(K)]
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        rows = torch.tensor(live)
        n = n_tr[rows]
        orders = torch.zeros(len(live), int(n.max()), dtype=torch.long)
        for j, k in enumerate(live):
            orders[j, : int(n[j])] = torch.randperm(int(n[j]), generator=gens[k])
        xs, ys = x_tr[rows], y_tr[rows]
        pick = torch.arange(len(live))[:, None]
        total = torch.zeros(len(live), dtype=torch.float64)
        uniform = bool((n == n[0]).all())
        drop = _Dropout(config.dropout, [drop_gens[k] for k in live]) if drop_gens else None
        for i in range(0, int(n.max()), B):
            if should_stop is not None and should_stop():
                raise TrainingStopped(f"training stopped by the caller in epoch {epoch}", epoch=epoch)
            idx = orders[:, i: i + B]  # (K, b)
            size = (n - i).clamp(min=0, max=B)  # (K,) this batch's rows per model
            weight = (torch.arange(idx.shape[1])[None, :] < size[:, None]).float()
            pred = stack.forward(xs[pick, idx], drop)
            losses = _huber_sum(pred, ys[pick, idx], weight, config.loss_delta)  # (K,)
            (losses / size.clamp(min=1)).sum().backward()
            stack.step(None if uniform else size > 0)
            total += losses.detach().double()
        val = _val_loss(stack, x_va[rows], y_va[rows], n_va[rows])
        train_loss = total / n.double()
        elapsed = time.perf_counter() - start
        done: list[int] = []
        improved = []
        for j, k in enumerate(live):
            tl, vl = float(train_loss[j]), float(val[j])
            if not (math.isfinite(tl) and math.isfinite(vl)):
                results[k] = TrainingFailed(
                    f"loss became {tl if not math.isfinite(tl) else vl} at epoch {epoch}: "
                    f"lower lr (now {config.lr}) or grad_clip (now {config.grad_clip})")
                done.append(j)
                continue
            history[k].append({"epoch": epoch, "train_loss": tl, "val_loss": vl})
            if vl < best_loss[k]:
                best_loss[k], best_epoch[k], stale[k] = vl, epoch, 0
                improved.append(j)
            else:
                stale[k] += 1
            info = StackEpoch(indices[k], epoch, config.epochs, tl, vl, elapsed)
            if on_epoch is not None and on_epoch(info):
                results[k] = TrainingStopped(f"training stopped by the caller after epoch {epoch}", epoch=epoch)
                done.append(j)
            elif stale[k] >= config.patience or epoch == config.epochs:
                done.append(j)
        if improved:
            at = torch.tensor(improved)
            for b, p in zip(best, stack.params):
                b[rows[at]] = p.detach()[at]
        finished = [live[j] for j in done if results[live[j]] is None]
        if finished:
            at = torch.tensor(finished)
            states = stack.state_dicts([b[at] for b in best])
            for k, state in zip(finished, states):
                results[k] = Fitted(state, history[k], best_epoch[k], 0.0, 0)
        keep = [j for j in range(len(live)) if j not in set(done)]
        if not keep:
            break
        if len(keep) < len(live):
            stack.keep(torch.tensor(keep))
            live = [live[j] for j in keep]
    seconds = (time.perf_counter() - start) / K  # each model's share of the stack's wall time
    for k, r in enumerate(results):
        if isinstance(r, Fitted):
            r.train_seconds, r.windows_seen = seconds, int(n_tr[k]) * len(r.history)
    return results  # type: ignore[return-value]
