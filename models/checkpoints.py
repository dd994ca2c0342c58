"""Checkpoints: the only place that writes or reads weights.

One self-contained file per model: safetensors holding the net's tensors and the calibration
pool, with the JSON metadata (format version, config, volatility filter, point rule, base rate,
data range and hash, metrics with baselines, library versions, the weights' sha256) in the
safetensors header under the key "pricecast". Format 2 is written; format 1 files (a scaler
and a shrinkage factor instead of the volatility filter and point rule) are still read and
forecast as they always did (models.legacy). No pickle: torch.load is never used. Writes are atomic (temp file in the
same directory, fsync, rename), and the same TrainResult always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import struct
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from models.calibration import Calibration, PointRule
from models.errors import CheckpointError, ConfigError
from models.legacy import LegacyCalibration, LegacyPredictor, Scaler
from models.lstm import LSTMConfig
from models.predict import Predictor
from models.seasonality import Profile
from models.train import TrainResult
from models.volatility import Volatility

FORMAT = "pricecast.lstm"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
META_KEY = "pricecast"


def weights_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _tensors(result: TrainResult) -> dict[str, torch.Tensor]:
    out = {f"net.{k}": v.detach().contiguous() for k, v in result.state_dict.items()}
    out["calibration.z"] = torch.from_numpy(np.ascontiguousarray(result.calibration.z, dtype=np.float64))
    return out


def metadata(result: TrainResult, tensors: dict[str, torch.Tensor]) -> dict:
    """The JSON metadata stored with the weights."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": result.config.to_dict(),
        "seed": result.seed,
        "price_field": result.price_field,
        "data_start": result.data_start,
        "data_end": result.data_end,
        "n_rows": result.n_rows,
        "data_sha256": result.data_sha256,
        "volatility": {"decay": result.vol.decay, "init_var": result.vol.init_var, "clip": result.vol.clip,
                       "start_weight": result.vol.start_weight},
        "point": result.rule.to_dict(),
        "calibration": {"p0": result.calibration.p0, "kappa": result.calibration.kappa,
                        "pool_size": int(result.calibration.z.size)},
        **({"seasonality": {"factors": result.profile.to_list()}} if getattr(result, "profile", None) is not None else {}),
        "metrics": result.metrics,
        "history": result.history,
        "train_seconds": result.train_seconds,
        "windows_per_second": result.windows_per_second,
        "weights_sha256": weights_sha256(tensors),
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "safetensors": safetensors.__version__, "python": platform.python_version()},
    }


def to_bytes(result: TrainResult) -> bytes:
    """The checkpoint's bytes (what save writes): the same TrainResult always gives the same bytes."""
    tensors = _tensors(result)
    meta = json.dumps(metadata(result, tensors), sort_keys=True)
    return st_save(tensors, metadata={META_KEY: meta})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(path: str | os.PathLike, result: TrainResult) -> str:
    """Write the checkpoint atomically to path; return the file's sha256."""
    return write(path, to_bytes(result))


def write(path: str | os.PathLike, data: bytes) -> str:
    """Write checkpoint bytes atomically to path (temp file, fsync, rename); return their sha256."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return sha256(data)


def read_metadata(data: bytes) -> dict:
    """Parse the JSON metadata from a checkpoint's bytes; CheckpointError if it is not one."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header["__metadata__"][META_KEY])
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint header: not a pricecast safetensors file ({exc.__class__.__name__})") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"format={meta.get('format')!r} version={meta.get('format_version')!r}: "
            f"unknown checkpoint format (this code reads {FORMAT!r} versions {list(READABLE_VERSIONS)})"
        )
    return meta


def load(path: str | os.PathLike, *, expected_sha256: str | None = None) -> Predictor:
    """Read and verify a checkpoint file; return its Predictor. CheckpointError on any mismatch."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"path={str(path)!r}: cannot read checkpoint ({exc.strerror})") from exc
    return from_bytes(data, expected_sha256=expected_sha256, name=f"path={str(path)!r}")


def verify(data: bytes, *, expected_sha256: str | None = None, name: str = "checkpoint") -> tuple[dict, dict]:
    """Check a checkpoint's bytes without building a net: (metadata, tensors). CheckpointError on any mismatch.

    safetensors is a header plus raw little-endian buffers: parsing it runs no code from the data.
    """
    if expected_sha256 is not None:
        actual = sha256(data)
        if actual != expected_sha256.lower():
            raise CheckpointError(f"sha256={actual}: {name} does not match the expected {expected_sha256}")
    meta = read_metadata(data)
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own error types for truncated/garbled data
        raise CheckpointError(f"{name}: corrupt tensor data ({exc})") from exc
    if weights_sha256(tensors) != meta.get("weights_sha256"):
        raise CheckpointError(f"weights_sha256={meta.get('weights_sha256')!r}: stored weights do not match their hash")
    return meta, tensors


def from_bytes(data: bytes, *, expected_sha256: str | None = None, name: str = "checkpoint") -> Predictor:
    """Verify a checkpoint's bytes (from a file or a database row); return its Predictor."""
    meta, tensors = verify(data, expected_sha256=expected_sha256, name=name)
    try:
        config = LSTMConfig.from_dict(meta["config"])
        state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}  # checked against the config
        z = tensors["calibration.z"].numpy()
        common = dict(config=config, state=state, price_field=meta["price_field"], metrics=meta["metrics"],
                      data_end=meta["data_end"])
        if meta["format_version"] == 1:
            calibration = LegacyCalibration(alpha=float(meta["calibration"]["alpha"]), z=z)
            return LegacyPredictor(scaler=Scaler(**meta["scaler"]), calibration=calibration, **common)
        cal = meta["calibration"]
        season = meta.get("seasonality")
        profile = Profile(np.asarray(season["factors"], dtype=np.float64)) if season else None
        return Predictor(vol=Volatility(**meta["volatility"]), rule=PointRule(**meta["point"]),
                         calibration=Calibration(z=z, p0=float(cal["p0"]), kappa=float(cal["kappa"])),
                         profile=profile, **common)
    except (ConfigError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{name}: metadata does not match the weights ({exc})") from exc
