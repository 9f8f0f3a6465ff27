"""Faults during training, with real processes: the disk fills up, the run
directory turns read-only.

Each test starts ``zoo train`` in a subprocess, lets it finish an epoch,
breaks the disk under it, and checks that it stops with one clear line (exit
1, no traceback) while what it had finished stays whole: config.json parses,
model.keras loads with safe mode, history.csv has no broken or duplicate row,
and no half-written file is left. Then the disk is repaired and
``zoo train --resume`` finishes the run with every epoch counted once.

Elsewhere: SIGKILL during training then ``--resume``, and NaN loss, are in
``tests/test_train.py``; SIGKILL during export is in ``tests/test_export.py``.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_zoo

EPOCHS = 4
NATIVE_LOG = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")


def start_training(run_dir: Path, log: Path, epochs: int = EPOCHS) -> subprocess.Popen:
    """The tutorial dense model, small batches so that an epoch lasts a few seconds."""
    args = ["train", "dense", "fashion-sample", "--recipe", "tutorial", "--epochs", str(epochs),
            "--batch-size", "16", "-o", str(run_dir), "-q"]
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "zoo.cli", *args], stdout=subprocess.DEVNULL,
                                stderr=err, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def wait_for_epoch(process: subprocess.Popen, run_dir: Path, epoch: int = 1, timeout: float = 300) -> None:
    """Until the backup records ``epoch`` finished epochs (its last write of the epoch)."""
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(metadata.read_text() or "{}").get("epoch", 0) >= epoch:
                return
        if process.poll() is not None:
            pytest.fail(f"training ended (exit {process.returncode}) before epoch {epoch} finished")
        time.sleep(0.02)
    process.kill()
    pytest.fail("no epoch finished in time")


def history_epochs(run_dir: Path) -> list:
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # every row whole: a number in every column
        assert None not in row.values() and all(v != "" for v in row.values()), rows
        float(row["loss"])
    return [int(row["epoch"]) for row in rows]


def assert_stopped_cleanly(process: subprocess.Popen, log: Path, run_dir: Path, reason: str) -> None:
    """Exit 1 with one error line; what was finished is intact and nothing half-written is left."""
    process.wait(timeout=300)
    stderr = log.read_text()
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 1, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(NATIVE_LOG)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert reason in lines[0] and "zoo train --resume" in lines[0], lines[0]
    assert str(run_dir) in lines[0], lines[0]

    json.loads((run_dir / "config.json").read_text())  # whole, whichever version it is
    epochs = history_epochs(run_dir)
    assert epochs[:1] == [0] and epochs == list(range(len(epochs))), epochs
    assert not (run_dir / "metrics.json").exists()
    leftovers = [p.name for p in run_dir.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"half-written files left: {leftovers}"

    from zoo import trainer

    model = trainer.load_run_model(run_dir)  # the checkpoint of a finished epoch, whole
    assert model.outputs[0].shape[-1] == 10


def resume_to_the_end(run_dir: Path, epochs: int = EPOCHS) -> None:
    result = run_zoo("train", "--resume", str(run_dir), "-q", timeout=600)
    assert result.returncode == 0, result.stderr
    assert history_epochs(run_dir) == list(range(epochs))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == epochs and metrics["resumed"] is True
    assert json.loads((run_dir / "config.json").read_text())["status"] == "complete"


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MiB tmpfs, or None where this machine does not allow mounting one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
                            capture_output=True)
    if result.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full, down to the last block."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


@pytest.mark.parametrize("how", ["tmpfs", "file-size-limit"])
def test_disk_full_during_training(how, small_disk, tmp_path):
    log = tmp_path / "stderr.txt"
    if how == "tmpfs":
        if small_disk is None:
            pytest.skip("cannot mount a tmpfs here; the file-size-limit case stands in")
        run_dir = small_disk / "run"
        process = start_training(run_dir, log)
        wait_for_epoch(process, run_dir)
        filler = fill(small_disk)
        reason = "No space left on device"
    else:
        # Anywhere, without mounting: cap the size of every file the process
        # writes from now on (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write
        # past the cap fails with EFBIG, as one fails with ENOSPC on a full disk).
        run_dir = tmp_path / "run"
        process = start_training(run_dir, log)
        wait_for_epoch(process, run_dir)
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
        filler = None
        reason = "File too large"
    try:
        assert_stopped_cleanly(process, log, run_dir, reason)
    finally:
        if process.poll() is None:
            process.kill()
        if filler is not None:
            filler.unlink()
    resume_to_the_end(run_dir)


def _immutable(path: Path, on: bool) -> bool:
    return subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True).returncode == 0


def test_run_directory_turns_read_only_during_training(tmp_path):
    """``chattr +i``: nothing can be created or renamed in the run directory, even by root."""
    probe = tmp_path / "probe"
    probe.mkdir()
    if not _immutable(probe, True):
        pytest.skip("chattr +i is not supported here (root ignores chmod, so there is no other way)")
    _immutable(probe, False)

    run_dir, log = tmp_path / "run", tmp_path / "stderr.txt"
    process = start_training(run_dir, log)
    try:
        wait_for_epoch(process, run_dir)
        assert _immutable(run_dir, True)
        assert_stopped_cleanly(process, log, run_dir, "Operation not permitted")
    finally:
        _immutable(run_dir, False)
        if process.poll() is None:
            process.kill()
    resume_to_the_end(run_dir)


def test_killed_after_the_last_epoch_resumes_without_training_again(tmp_path):
    """SIGKILL while the finished model is evaluated and plotted (after fit, before metrics.json).

    The backup stays until metrics.json is written, so --resume knows every
    epoch finished: it trains none again and writes each history row once.
    """
    run_dir, log = tmp_path / "run", tmp_path / "stderr.txt"
    process = start_training(run_dir, log, epochs=2)
    try:
        wait_for_epoch(process, run_dir, epoch=2)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    if (run_dir / "metrics.json").exists():
        pytest.skip("the run finished before it could be killed")
    assert process.returncode == -signal.SIGKILL
    assert history_epochs(run_dir) == [0, 1]
    resume_to_the_end(run_dir, epochs=2)
    assert not (run_dir / "backup").exists()
