"""Resume through the command line with stateful optimizers (issue 20): a run stopped by a
signal mid-epoch and resumed with ``--resume`` ends bit for bit where the uninterrupted run
ends, weights and optimizer state alike. A resume that lost Adam's moments or SGD's momentum
buffers would change the losses of the epochs after it, and these tests would fail."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

EXE = shutil.which("tapegrad")
COMMAND = [EXE] if EXE else [sys.executable, "-m", "tapegrad"]
LONG = ["train.epochs=1000000", "train.batch_size=30", "train.log_every=1000000"]
OPTIMIZERS = {
    "adam": ["train.optimizer=adam", "train.lr=0.01"],
    "sgd-momentum": ["train.optimizer=sgd", "train.momentum=0.9", "train.lr=1e-5"],
}


def stop_after_a_few_epochs(out: Path, args: list[str]) -> int:
    proc = subprocess.Popen(
        [*COMMAND, "train", *LONG, *args, "-q", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    metrics = out / "metrics.csv"
    while not (metrics.exists() and metrics.read_text().count("\n") > 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    return json.loads((out / "summary.json").read_text())["epochs"]


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if not k.startswith("history.") and k != "meta"}


def losses(out: Path) -> list[tuple[str, str]]:
    return [(r["epoch"], r["loss"]) for r in csv.DictReader((out / "metrics.csv").open())]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_cli_resume_with_a_stateful_optimizer_is_bit_for_bit(tmp_path, optimizer):
    args = OPTIMIZERS[optimizer]
    out, reference = tmp_path / "stopped", tmp_path / "whole"
    epochs = stop_after_a_few_epochs(out, args) + 3  # the cut epoch and two more
    with np.load(out / "checkpoint.npz", allow_pickle=False) as saved:
        buffers = [k for k in saved.files if k.startswith("optim.")]
    assert buffers  # the interrupted run saved the optimizer's state
    both = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in (
            [*COMMAND, "train", "--resume", str(out), f"train.epochs={epochs}", "-q"],
            [*COMMAND, "train", *LONG, *args, f"train.epochs={epochs}", "-q", "--out",
             str(reference)],
        )
    ]  # fmt: skip
    for proc in both:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    assert losses(out) == losses(reference)
    ours, theirs = arrays(out / "checkpoint.npz"), arrays(reference / "checkpoint.npz")
    assert sorted(ours) == sorted(theirs) and set(buffers) <= set(ours)
    for key, array in theirs.items():
        np.testing.assert_array_equal(ours[key], array, err_msg=key)
    for key, array in arrays(reference / "model.npz").items():
        np.testing.assert_array_equal(arrays(out / "model.npz")[key], array, err_msg=key)
