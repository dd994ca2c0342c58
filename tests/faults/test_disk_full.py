"""The disk fills up while a checkpoint is written: the job fails cleanly, nothing partial is kept or registered."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.db import make_engine, make_sessionmaker
from service.tables import ModelVersion, TrainingJob
from service.training.jobs import submit_training
from service.training.runner import run_training
from tests.factories import make_series
from tests.faults.conftest import skip_or_fail

# hidden_size=32 makes a checkpoint of about 25 KB: larger than the 8 KB left free below,
# so the write starts, fills the disk and fails part-way.
PARAMS = {"window": 8, "hidden_size": 32, "epochs": 2, "patience": 2, "batch_size": 64}
LEFT_FREE = 8192


@pytest.fixture
def factory(settings):
    engine = make_engine(settings.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 64 KiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_or_fail("mounting a size-limited tmpfs needs root and mount(8)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill(disk: Path, *, leave: int) -> Path:
    """Fill the filesystem with one file, then free `leave` bytes at its end."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    os.truncate(filler, filler.stat().st_size - leave)
    return filler


def test_checkpoint_write_that_fills_the_disk_fails_the_job_cleanly(settings, factory, small_disk):
    # The database stays where it was; checkpoints are files on the small disk.
    settings = settings.model_copy(update={"data_dir": small_disk, "checkpoint_store": "files"})
    with factory() as s:
        make_series(s, n=400)
        job, _ = submit_training(s, settings=settings, symbol="TEST", params=PARAMS)
        s.commit()
        job_id = job.id
    settings.checkpoint_dir.mkdir()
    filler = fill(small_disk, leave=LEFT_FREE)
    free_before = os.statvfs(small_disk).f_bfree

    status = run_training(settings, factory, job_id=job_id, worker_id="test:1")

    assert status == "failed"
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert job.status == "failed" and job.finished_at is not None and job.model_version_id is None
        assert str(settings.checkpoint_dir) in job.error and "No space left on device" in job.error, job.error
        assert s.scalar(select(func.count()).select_from(ModelVersion)) == 0
    assert list(settings.checkpoint_dir.iterdir()) == [], "a partial checkpoint (or temp file) was left behind"
    assert os.statvfs(small_disk).f_bfree == free_before

    # With space again, a retrain writes and registers a whole checkpoint.
    filler.unlink()
    with factory() as s:
        retry, _ = submit_training(s, settings=settings, symbol="TEST", params=PARAMS)
        s.commit()
        retry_id = retry.id
    assert run_training(settings, factory, job_id=retry_id, worker_id="test:1") == "succeeded"
    with factory() as s:
        version = s.scalar(select(ModelVersion))
        assert version.job_id == retry_id and version.status == "active"
        assert (settings.data_dir / version.checkpoint_path).stat().st_size > LEFT_FREE
