"""Real signals to a real ``tapegrad train`` process: SIGINT and SIGTERM stop it after the
current step with everything saved and exit 130; ``--resume`` then continues bit for bit.
At any other moment from start to exit, a signal ends it with 130 and at most one line."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
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
        "checkpoint.npz", "config.yaml", "data.json", "metrics.csv", "model.npz", "summary.json"
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


# ----------------------------------------------------------------------------- any moment

BAD = ("Traceback", "Aborted!", "Fatal Python error")


def paused_at(point: str, marker: Path, *args: str, command: list[str] = COMMAND):
    """A run paused at ``point`` (a ``tapegrad.train.hooks`` name) until ``marker`` is
    removed: signals sent before that are handled there."""
    env = {**os.environ, "TAPEGRAD_TEST_PAUSE": f"{point}:{marker}"}
    proc = subprocess.Popen(
        [*command, "train", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached {point}")
        time.sleep(0.005)
    return proc


@pytest.mark.parametrize(
    ("point", "signum", "line"),
    [
        # the group has installed its handler, no command started: ends at once
        ("start", signal.SIGINT, "interrupted (SIGINT)"),
        # while the train command's modules are imported
        ("import", signal.SIGTERM, "interrupted (SIGTERM)"),
        # the config is loaded, nothing written yet
        ("before-run", signal.SIGINT, "interrupted (SIGINT): stopped before training started"),
    ],
)
def test_a_signal_before_training_exits_130_with_one_line(tmp_path, point, signum, line):
    out = tmp_path / "run"
    proc = paused_at(point, tmp_path / "marker", "train.epochs=3", "--out", str(out))
    proc.send_signal(signum)
    (tmp_path / "marker").unlink()
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.splitlines() == [line] and not any(bad in stderr for bad in BAD)
    assert stdout == "" and not out.exists()  # nothing was written


def test_signals_after_the_files_are_saved_exit_130_not_minus_2(tmp_path):
    # The run is complete and saved; the handlers of the run are put back; two more signals.
    out = tmp_path / "run"
    proc = paused_at("after-run", tmp_path / "marker", "train.epochs=3", "-q", "--out", str(out))
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    (tmp_path / "marker").unlink()
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.splitlines() == ["interrupted (SIGINT)"]
    assert "final loss" in stdout
    assert json.loads((out / "summary.json").read_text())["status"] == "ok"


def test_python_dash_m_handles_signals_the_same(tmp_path):
    proc = paused_at(
        "command", tmp_path / "marker", "-q", command=[sys.executable, "-m", "tapegrad"]
    )
    proc.send_signal(signal.SIGINT)
    (tmp_path / "marker").unlink()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and stderr.splitlines() == ["interrupted (SIGINT)"]


@pytest.mark.skipif(
    importlib.util.find_spec("tapegrad._startup") is None,
    reason="needs tapegrad/__init__.py to install the handler before its imports",
)
def test_a_signal_while_tapegrad_itself_is_imported(tmp_path):
    proc = paused_at("package", tmp_path / "marker", "-q")
    proc.send_signal(signal.SIGINT)
    (tmp_path / "marker").unlink()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and stderr.splitlines() == ["interrupted (SIGINT)"]
