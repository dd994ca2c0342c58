"""`pricecast models export|import`: a checkpoint travels as one file and is checked on the way in."""

from __future__ import annotations

import json
import struct

from tests.cli.conftest import TINY_FLAGS
from tests.conftest import data_file


def _forecast(pricecast, ticker: str) -> dict:
    r = pricecast("forecast", ticker, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_export_then_import_serves_the_same_forecast_under_another_ticker(pricecast, tmp_path):
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    assert pricecast("train", "IBM", *TINY_FLAGS).exit_code == 0
    out = tmp_path / "ibm.safetensors"
    r = pricecast("models", "export", "ibm", str(out))
    assert r.exit_code == 0 and "version 1" in r.stdout, r.stderr
    sha = r.stdout.split("sha256 ")[1].strip(" )\n")
    # A second ticker with the same prices takes the exported model: same forecast, nothing trained.
    assert pricecast("import", "COPY", str(data_file("IBM.csv"))).exit_code == 0
    r = pricecast("models", "import", "COPY", str(out), "--sha256", sha, "--json")
    assert r.exit_code == 0, r.stderr
    model = json.loads(r.stdout)
    assert (model["version"], model["status"], model["checkpoint_sha256"]) == (1, "active", sha)
    ibm, copy = _forecast(pricecast, "IBM"), _forecast(pricecast, "COPY")
    assert copy["predicted_price"] == ibm["predicted_price"] and copy["intervals"] == ibm["intervals"]
    # A second import is a candidate; the file store takes it as a file.
    r = pricecast("models", "import", "COPY", str(out), checkpoint_store="files")
    assert r.exit_code == 0 and "version 2 (candidate)" in r.stdout, r.stderr
    assert [p.name for p in (tmp_path / "var" / "checkpoints").iterdir()] == ["t2-m3-import.safetensors"]
    r = pricecast("models", "export", "COPY", str(tmp_path / "v2.safetensors"), "--version", "2")
    assert r.exit_code == 0 and (tmp_path / "v2.safetensors").read_bytes() == out.read_bytes()


def test_import_refuses_a_wrong_sha_a_pickle_and_a_tampered_header_and_stores_nothing(pricecast, tmp_path):
    assert pricecast("import", "IBM", str(data_file("IBM.csv"))).exit_code == 0
    assert pricecast("train", "IBM", *TINY_FLAGS).exit_code == 0
    good = tmp_path / "good.safetensors"
    assert pricecast("models", "export", "IBM", str(good)).exit_code == 0
    r = pricecast("models", "import", "IBM", str(good), "--sha256", "0" * 64)
    assert r.exit_code == 1 and "does not match the expected" in r.stderr
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04\x95" + b"cos\nsystem\n(S'echo owned'\ntR." * 3)
    r = pricecast("models", "import", "IBM", str(pickled))
    assert r.exit_code == 1 and "not a pricecast safetensors file" in r.stderr and "Traceback" not in r.stderr
    # Same weights, metadata edited to claim other weights: the weights hash no longer matches.
    data = good.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["pricecast"])
    meta["weights_sha256"] = "f" * 64
    header["__metadata__"]["pricecast"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    r = pricecast("models", "import", "IBM", str(tampered))
    assert r.exit_code == 1 and "weights_sha256" in r.stderr
    r = pricecast("models", "import", "NOPE", str(good))
    assert r.exit_code == 1 and "NOPE" in r.stderr
    r = pricecast("models", "export", "IBM", str(tmp_path / "x"), "--version", "7")
    assert r.exit_code == 1 and "no model version 7" in r.stderr
    listed = pricecast("forecast", "IBM", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)["model"]["version"] == 1  # nothing was added
