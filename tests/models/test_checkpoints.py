import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from models import checkpoints
from models.errors import CheckpointError
from models.predict import Predictor
from tests.models.synthetic import ar1_prices

DATA = Path(__file__).parent / "data"


def test_round_trip_gives_the_same_forecasts(tiny_result, tiny_prices, tmp_path):
    path = tmp_path / "m.safetensors"
    sha = checkpoints.save(path, tiny_result)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left
    loaded = checkpoints.load(path, expected_sha256=sha)
    original = Predictor.from_result(tiny_result)
    assert loaded.predict(tiny_prices, levels=(80, 95, 99)) == original.predict(tiny_prices, levels=(80, 95, 99))
    assert loaded.config == tiny_result.config and loaded.price_field == "adj_close"
    assert loaded.metrics == json.loads(json.dumps(tiny_result.metrics)) and loaded.data_end == "d0399"
    assert checkpoints.save(tmp_path / "again.safetensors", tiny_result) == sha  # deterministic bytes


def test_metadata_describes_the_model(tiny_result, tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoints.save(path, tiny_result)
    meta = checkpoints.read_metadata(path.read_bytes())
    assert meta["format_version"] == 2 and meta["data_sha256"] == tiny_result.data_sha256
    assert {"torch", "numpy", "safetensors"} <= set(meta["versions"])
    assert meta["volatility"]["init_var"] == tiny_result.vol.init_var and len(meta["weights_sha256"]) == 64
    assert meta["point"]["choice"] == tiny_result.rule.choice and meta["calibration"]["p0"] == tiny_result.calibration.p0


def test_reads_format_1_files_and_forecasts_as_they_did():
    """A deployed registry holds format-1 checkpoints: they load and give the numbers they gave."""
    expected = json.loads((DATA / "format1.json").read_text())
    path = DATA / "format1.safetensors"
    predictor = checkpoints.load(path, expected_sha256=expected["sha256"])
    prices = ar1_prices(expected["n"], seed=expected["prices_seed"])
    assert predictor.history == predictor.window + 1 == 9
    pred = predictor.predict(prices, levels=(80, 95))
    want = expected["predict"]
    assert pred.last_price == want["last_price"] and pred.trend == want["trend"]
    assert pred.predicted_price == pytest.approx(want["predicted_price"], rel=1e-9)
    assert pred.prob_up == want["prob_up"]
    for (lv, lo, hi), (wlv, wlo, whi) in zip(pred.intervals, want["intervals"]):
        assert lv == wlv and lo == pytest.approx(wlo, rel=1e-9) and hi == pytest.approx(whi, rel=1e-9)
    f = predictor.forecast(prices, np.arange(380, 400), levels=(80,))
    for key in ("predicted", "low_80", "high_80"):
        np.testing.assert_allclose(f[key], expected["forecast_380_400"][key], rtol=1e-9)


def test_refuses_a_wrong_expected_hash(tiny_result, tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoints.save(path, tiny_result)
    with pytest.raises(CheckpointError, match="does not match the expected"):
        checkpoints.load(path, expected_sha256="0" * 64)


def test_refuses_flipped_weight_bytes(tiny_result, tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoints.save(path, tiny_result)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the tensor data
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="weights_sha256"):
        checkpoints.load(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing"])
def test_refuses_corrupt_files(tiny_result, tmp_path, damage):
    path = tmp_path / "m.safetensors"
    checkpoints.save(path, tiny_result)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x04not a checkpoint at all")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(CheckpointError):
        checkpoints.load(path)


def test_refuses_an_unknown_format_version(tiny_result, tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoints.save(path, tiny_result)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["pricecast"])
    meta["format_version"] = 99
    header["__metadata__"]["pricecast"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    with pytest.raises(CheckpointError, match="version=99"):
        checkpoints.load(path)


def test_bytes_round_trip_serves_from_the_tensors_without_building_the_module(tiny_result, tiny_prices, tmp_path):
    from models.predict import predict_many

    data = checkpoints.to_bytes(tiny_result)
    sha = checkpoints.save(tmp_path / "m.safetensors", tiny_result)
    assert (tmp_path / "m.safetensors").read_bytes() == data and checkpoints.sha256(data) == sha
    loaded = checkpoints.from_bytes(data, expected_sha256=sha)
    original = Predictor.from_result(tiny_result)
    assert loaded.predict(tiny_prices) == original.predict(tiny_prices)
    assert predict_many([loaded, loaded], [tiny_prices, tiny_prices[:-3]]) == \
        predict_many([original, original], [tiny_prices, tiny_prices[:-3]])
    assert loaded._net is None, "serving built the nn.Module"
    assert loaded.nbytes == original.nbytes > 0
    # Building it on demand (backtests, the vectorised path) gives the same forecasts.
    targets = np.arange(300, len(tiny_prices))
    np.testing.assert_allclose(loaded.forecast(tiny_prices, targets)["mu"],
                               original.forecast(tiny_prices, targets)["mu"])
    with pytest.raises(CheckpointError, match="does not match the expected"):
        checkpoints.from_bytes(data, expected_sha256="0" * 64)


def test_refuses_metadata_whose_config_does_not_fit_the_tensors(tiny_result):
    data = checkpoints.to_bytes(tiny_result)
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["pricecast"])
    meta["config"]["hidden_size"] *= 2  # the weights (and their hash) unchanged
    header["__metadata__"]["pricecast"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with pytest.raises(CheckpointError, match="metadata does not match the weights"):
        checkpoints.from_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_the_module_built_from_the_state_shares_its_memory_and_is_built_once(tiny_result, tiny_prices):
    import threading

    loaded = checkpoints.from_bytes(checkpoints.to_bytes(tiny_result))
    before = loaded.predict(tiny_prices)
    nets = []
    threads = [threading.Thread(target=lambda: nets.append(loaded.net)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(n) for n in nets}) == 1
    params = dict(nets[0].named_parameters())
    assert all(params[k].data_ptr() == v.data_ptr() for k, v in loaded.weights.items())
    assert loaded.predict(tiny_prices) == before
