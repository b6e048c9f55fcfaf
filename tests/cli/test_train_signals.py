"""Real signals to a real ``tapegrad train`` process: SIGINT and SIGTERM stop it after the
current step with everything saved and exit 130; ``--resume`` then continues bit for bit."""

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
#: Many epochs of mini-batches: the run is always still going when the signal arrives.
LONG = ["train.epochs=1000000", "train.batch_size=30", "train.log_every=1000000"]


def start(out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "train", *LONG, *args, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_rows(proc: subprocess.Popen[str], out: Path, rows: int, timeout: float = 30) -> None:
    """Wait until metrics.csv holds ``rows`` epochs (so training is under way)."""
    deadline = time.monotonic() + timeout
    metrics = out / "metrics.csv"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists() and metrics.read_text().count("\n") > rows:
            return
        time.sleep(0.01)
    proc.kill()
    pytest.fail("training did not start in time")


def stop(proc: subprocess.Popen[str], *signals: signal.Signals) -> tuple[str, str]:
    for signum in signals:
        proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    return stdout, stderr


def metrics(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "metrics.csv").open()))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_the_run_and_exits_130(tmp_path, signum):
    out = tmp_path / "run"
    proc = start(out)
    wait_for_rows(proc, out, 3)
    stdout, stderr = stop(proc, signum)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["resumable"] is True
    reached = summary["epochs"]
    name = signal.Signals(signum).name
    [line] = [s for s in stderr.splitlines() if s.startswith("interrupted")]
    assert line.startswith(f"interrupted ({name}): stopped ")
    assert f"epoch {reached}" in line or f"epoch {reached + 1} after step" in line
    assert line.endswith(f"saved to {out}; continue with: tapegrad train --resume {out}")
    assert [int(r["epoch"]) for r in metrics(out)] == list(range(1, reached + 1))
    with np.load(out / "model.npz", allow_pickle=False) as weights:
        assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert "final loss" in stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.npz", "config.yaml", "metrics.csv", "model.npz", "summary.json"
    ]  # fmt: skip


def test_a_second_signal_also_ends_cleanly(tmp_path):
    # Whether the second arrives while the first is honoured (stop at once) or the two are
    # merged into one (a normal stop), the process ends with 130 and no traceback.
    out = tmp_path / "run"
    proc = start(out)
    wait_for_rows(proc, out, 3)
    _, stderr = stop(proc, signal.SIGINT, signal.SIGINT)
    assert stderr.splitlines()[-1].startswith("interrupted")
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind


def test_interrupted_then_resumed_equals_uninterrupted_bit_for_bit(tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    wait_for_rows(proc, out, 3)
    stop(proc, signal.SIGINT)
    summary = json.loads((out / "summary.json").read_text())
    epochs = summary["epochs"] + 3  # finishes the cut epoch and two more
    resumed = subprocess.run(
        [*COMMAND, "train", "--resume", str(out), f"train.epochs={epochs}", "-q"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    reference = tmp_path / "reference"
    whole = subprocess.run(
        [*COMMAND, "train", *LONG, f"train.epochs={epochs}", "--out", str(reference), "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    assert [(r["epoch"], r["loss"]) for r in metrics(out)] == [
        (r["epoch"], r["loss"]) for r in metrics(reference)
    ]
    with np.load(out / "model.npz") as a, np.load(reference / "model.npz") as b:
        for key in b.files:
            np.testing.assert_array_equal(a[key], b[key])
