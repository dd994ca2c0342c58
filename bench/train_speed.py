"""Training speed of pricecast's core against the classic tutorial recipe, measured in one run.

1. Same network (nn.LSTM(1, 50, 2 layers) + Linear, windows of 60): windows/s of the recipe
   (MinMax-scaled prices, shuffled DataLoader, batch 32, torch.optim.Adam 1e-3, MSE) against
   pricecast's loop (whole-tensor batches, same network).
2. Time to a trained, evaluated, saved model with the default LSTMConfig on SPX, against the
   recipe's 20-epoch training time; also measured in a fresh process (cold start).

The machine is shared and noisy: compare the ratios, not the absolute numbers.
Usage: python bench/train_speed.py [CSV] [--recipe-epochs 20] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch._dynamo  # noqa: F401  (import it up front so no timed section pays for it)
from torch import nn

from models import checkpoints
from models.lstm import LSTMConfig
from models.train import split, train

DEFAULT_CSV = Path(__file__).resolve().parents[1] / "examples" / "data" / "SPX.csv"


def read_close(path: Path) -> np.ndarray:
    with path.open(newline="") as f:
        return np.array([float(r["close"]) for r in csv.DictReader(f)])


class RecipeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 50, 2, batch_first=True)
        self.fc = nn.Linear(50, 1)

    def forward(self, x):
        out, _ = self.lstm(x)  # (batch, 60, 50)
        return self.fc(out[:, -1])  # (batch, 1)


def recipe(prices: np.ndarray, epochs: int) -> dict:
    """The tutorial: MinMax on the whole series, windows of 60 prices, DataLoader batch 32."""
    torch.manual_seed(0)
    scaled = (prices - prices.min()) / (prices.max() - prices.min())
    s = split(prices.size, LSTMConfig(window=60))
    x = np.lib.stride_tricks.sliding_window_view(scaled[: s.train_end - 1], 60)[:-1]
    y = scaled[60 : s.train_end - 1]
    ds = torch.utils.data.TensorDataset(
        torch.tensor(x, dtype=torch.float32).unsqueeze(-1), torch.tensor(y, dtype=torch.float32).unsqueeze(-1)
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True)
    net = RecipeNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "windows": len(ds), "windows_per_second": len(ds) * epochs / seconds}


def same_network(prices: np.ndarray, epochs: int, batch_size: int) -> dict:
    config = LSTMConfig(window=60, hidden_size=50, layers=2, batch_size=batch_size, lr=1e-3,
                        epochs=epochs, patience=epochs)
    result = train(prices, config, seed=0)
    return {"seconds": result.train_seconds, "windows_per_second": result.windows_per_second}


def default_pipeline(prices: np.ndarray) -> dict:
    start = time.perf_counter()
    result = train(prices, LSTMConfig(), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints.save(Path(tmp) / "m.safetensors", result)
    total = time.perf_counter() - start
    m = result.metrics
    return {"seconds": total, "train_seconds": result.train_seconds, "epochs": len(result.history),
            "rmse_ratio": m["rmse"] / m["persistence_rmse"], "coverage_80": m["coverage_80"],
            "coverage_95": m["coverage_95"]}


def predict_latency(prices: np.ndarray, n: int = 2000) -> None:
    """Single-ticker predict() and predict_many() latency for the default network."""
    import timeit

    from models.predict import Predictor, predict_many

    predictor = Predictor.from_result(train(prices, LSTMConfig(), seed=0))
    for threads in (torch.get_num_threads(), 1):
        torch.set_num_threads(threads)
        single = timeit.timeit(lambda: predictor.predict(prices), number=n) / n
        loop = timeit.timeit(lambda: [predictor.predict(prices) for _ in range(100)], number=10) / 10
        many = timeit.timeit(lambda: predict_many([predictor] * 100, [prices] * 100), number=10) / 10
        print(f"predict, {threads} thread(s): {1e6 * single:.0f} us per call; 100 tickers: loop "
              f"{1e3 * loop:.1f} ms, predict_many {1e3 * many:.1f} ms ({loop / many:.1f}x)")


COLD = """
import time, tempfile, sys, numpy as np, csv
t0 = time.perf_counter()
from models import checkpoints
from models.lstm import LSTMConfig
from models.train import train
t1 = time.perf_counter()
p = np.array([float(r["close"]) for r in csv.DictReader(open(sys.argv[1]))])
r = train(p, LSTMConfig(), seed=0)
with tempfile.TemporaryDirectory() as d:
    checkpoints.save(d + "/m.safetensors", r)
print(t1 - t0, time.perf_counter() - t1)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--recipe-epochs", type=int, default=20)
    ap.add_argument("--same-net-epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prices = read_close(args.csv)
    print(f"{args.csv.name}: {prices.size} rows, torch {torch.__version__}, {torch.get_num_threads()} threads")

    rec = recipe(prices, args.recipe_epochs)
    print(f"recipe  LSTM(1,50,2) w60 DataLoader b32: {rec['windows']} windows x {args.recipe_epochs} epochs "
          f"in {rec['seconds']:.2f}s = {rec['windows_per_second']:,.0f} windows/s")
    for batch in (256, 512):
        ours = same_network(prices, args.same_net_epochs, batch)
        print(f"ours    LSTM(1,50,2) w60 whole-tensor b{batch}: {ours['windows_per_second']:,.0f} windows/s "
              f"= {ours['windows_per_second'] / rec['windows_per_second']:.2f}x recipe (goal >= 1.5x)")
    for attempt in (1, 2):
        d = default_pipeline(prices)
        print(f"default LSTMConfig() train+backtest+save run {attempt}: {d['seconds']:.2f}s "
              f"(training loop {d['train_seconds']:.2f}s, {d['epochs']} epochs) = "
              f"{d['seconds'] / rec['seconds']:.3f} of the recipe's {args.recipe_epochs}-epoch training "
              f"(goal <= 0.2); RMSE {d['rmse_ratio']:.4f}x persistence, coverage "
              f"{d['coverage_80']:.3f}/{d['coverage_95']:.3f}")
    predict_latency(prices)
    out = subprocess.run([sys.executable, "-c", COLD, str(args.csv)], capture_output=True, text=True, check=True)
    imports, work = (float(v) for v in out.stdout.split())
    print(f"default, fresh process: import {imports:.2f}s, read+train+backtest+save {work:.2f}s = "
          f"{work / rec['seconds']:.3f} of the recipe ({(imports + work) / rec['seconds']:.3f} with imports)")


if __name__ == "__main__":
    main()
