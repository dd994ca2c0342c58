"""Training many models together (models/stacked.py) against one at a time, in one process and thread.

1. Kernel: milliseconds per model per training batch (forward, backward, clipping, Adam; default
   config, batch 256, window 30) for PriceLSTM alone (nn.LSTM + models/optim.Adam, the path before
   stacking) and for a stack of K models with each kernel ("fused": torch's LSTM kernel per model
   on views of the stacked weights; "bmm": one batched matmul per time step for all K). Rounds are
   interleaved; min and median over rounds are printed (the machine is shared: the min is the
   one to compare).
2. End to end: N random walks x D days, train() one by one vs prepare + fit_many + finish, in
   milliseconds per series, and the largest weight difference between the two (the same models).

    .venv/bin/python bench/stacked.py [--series 32 --days 1500 --rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from models.lstm import LSTMConfig, PriceLSTM
from models.optim import Adam
from models.stacked import _initial_state, _Stack
from models.train import finish, fit_many, prepare, train


def kernel_table(rounds: int) -> None:
    config = LSTMConfig()
    net = PriceLSTM(config)
    opt = Adam(net.parameters(), lr=config.lr)
    x1, y1 = torch.randn(256, config.window, 1), torch.randn(256)

    def alone() -> None:
        _, loss = net(x1, y1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        opt.step()

    runs = {"PriceLSTM alone": (1, alone)}
    for kernel in ("fused", "bmm"):
        for k in (1, 8, 32):
            stack = _Stack(config, [_initial_state(config, s) for s in range(k)], kernel=kernel)
            x, y = torch.randn(k, 256, config.window), torch.randn(k, 256)

            def step(stack=stack, x=x, y=y) -> None:
                loss = ((stack.forward(x) - y) ** 2).mean(1).sum()
                loss.backward()
                stack.step(None)

            runs[f"{kernel} K={k}"] = (k, step)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (k, fn) in runs.items():
            n = max(1, 16 // k)
            t = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t) / n / k * 1000)
    base = min(times["PriceLSTM alone"])
    print(f"{'kernel':<18} {'ms/model/batch min':>18} {'median':>8} {'min vs alone':>12}")
    for name, v in times.items():
        print(f"{name:<18} {min(v):>18.2f} {statistics.median(v):>8.2f} {min(v) / base:>11.2f}x")


def end_to_end(n_series: int, days: int) -> None:
    config = LSTMConfig()
    prices = [100 * np.exp(np.cumsum(np.random.default_rng(i).normal(0, 0.01, days))) for i in range(n_series)]
    t = time.perf_counter()
    one = [train(p, config, seed=0) for p in prices]
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    prepared = [prepare(p, config) for p in prices]
    fitted = fit_many(prepared, seeds=[0] * n_series)
    many = [finish(p, f, seed=0) for p, f in zip(prepared, fitted)]
    t_many = time.perf_counter() - t
    diff = max(float((a.state_dict[k] - b.state_dict[k]).abs().max()) for a, b in zip(one, many) for k in a.state_dict)
    epochs = sum(len(r.history) for r in one) / n_series
    print(f"{n_series} series x {days} days ({epochs:.1f} epochs each): train() one by one "
          f"{t_one / n_series * 1000:.0f} ms/series, fit_many {t_many / n_series * 1000:.0f} ms/series "
          f"({t_one / t_many:.2f}x); largest weight difference {diff:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=32)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    kernel_table(args.rounds)
    end_to_end(args.series, args.days)


if __name__ == "__main__":
    main()
