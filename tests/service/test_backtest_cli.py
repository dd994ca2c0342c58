"""`pricecast backtest` reads files through the upload parser and uses PRICECAST_TORCH_THREADS (issue 11)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from service.cli import app
from tests.models.synthetic import ar1_prices

TINY = ["--window", "8", "--hidden-size", "4", "--layers", "1", "--epochs", "2", "--batch-size", "64", "--seed", "1"]


def write_csv(path, prices, *, sep=",", damage: dict[int, str] | None = None) -> None:
    days = np.busday_offset("2015-01-01", np.arange(len(prices)), roll="forward")
    lines = [sep.join(("date", "close"))]
    for i, (d, p) in enumerate(zip(days, prices, strict=True)):
        lines.append(sep.join((str(d), (damage or {}).get(i, repr(float(p))))))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_damaged_file_names_each_line_like_an_upload(tmp_path, threads):
    path = tmp_path / "damaged.csv"
    write_csv(path, ar1_prices(400, seed=1), damage={10: "#VALUE!", 20: "-3"})
    result = CliRunner().invoke(app, ["backtest", str(path), *TINY])
    assert result.exit_code == 1
    assert "2 invalid value(s); first at line 12, column 'close': not a number; nothing was stored" in result.stderr
    assert "line 12, column close: '#VALUE!': not a number" in result.stderr
    assert "line 22, column close: '-3': must be > 0" in result.stderr
    assert "could not convert" not in result.output


def test_upload_warnings_are_printed_and_json_stays_clean(tmp_path, threads):
    prices = ar1_prices(400, seed=2)
    prices[300:] /= 2.0  # an unadjusted 2:1 split
    path = tmp_path / "split.csv"
    write_csv(path, prices, sep=";")
    result = CliRunner().invoke(app, ["backtest", str(path), "--json", *TINY])
    assert result.exit_code == 0, result.output
    assert "warning: read as a semicolon-separated file" in result.stderr
    assert "close to a 2:1 split" in result.stderr
    assert json.loads(result.stdout)["n_test"] > 0


@pytest.mark.parametrize(("env", "expected"), [({}, 1), ({"PRICECAST_TORCH_THREADS": "2"}, 2)])
def test_torch_threads_come_from_the_setting(tmp_path, threads, env, expected):
    path = tmp_path / "ok.csv"
    write_csv(path, ar1_prices(400, seed=3))
    torch.set_num_threads(3)
    result = CliRunner().invoke(app, ["backtest", str(path), "--json", *TINY], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["torch_threads"] == expected  # what torch used while training
    assert torch.get_num_threads() == 3  # an in-process caller gets its own setting back
