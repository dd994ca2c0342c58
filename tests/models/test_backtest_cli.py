"""The `pricecast backtest` command on a small synthetic CSV (the CLI lives in service/cli/backtest.py)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.models.synthetic import ar1_prices


@pytest.fixture
def csv_file(tmp_path):
    prices = ar1_prices(400, seed=2)
    days = np.busday_offset("2020-01-01", np.arange(len(prices)), roll="forward")
    lines = ["date,open,high,low,close,adj_close,volume"]
    lines += [f"{d},{p},{p},{p},{p},,1" for d, p in zip(days, prices, strict=True)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_output_has_the_contract_keys(csv_file, tmp_path):
    save = tmp_path / "m.safetensors"
    args = ["backtest", str(csv_file), "--json", "--save", str(save), "--window", "8", "--hidden-size", "4",
            "--epochs", "2", "--batch-size", "64", "--lr", "0.01", "--seed", "3", "--layers", "1", "--dropout", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["price_field"] == "close" and out["n_test"] == 80 and save.exists()
    for key in ("n_test", "train_seconds", "total_seconds", "windows_per_second", "skill_rmse", "no_edge"):
        assert key in out
    assert set(out["model"]) >= {"rmse", "mae", "mape", "mase", "directional_accuracy", "brier",
                                 "coverage_80", "coverage_95"}
    assert set(out["persistence"]) >= {"rmse", "mae", "mape", "mase"}
    assert set(out["drift"]) >= {"rmse", "mae", "mape", "mase", "directional_accuracy"}
    assert set(out["always_up"]) == {"directional_accuracy"}


def test_errors_are_one_line_and_nonzero(csv_file):
    result = CliRunner().invoke(app, ["backtest", str(csv_file), "--window", "0"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: window=0: must be between 8 and 512"
    short = csv_file.parent / "short.csv"
    short.write_text("\n".join(csv_file.read_text().splitlines()[:60]) + "\n")  # 59 rows: under 89
    result = CliRunner().invoke(app, ["backtest", str(short)])
    assert result.exit_code == 1 and "needs at least" in result.output
