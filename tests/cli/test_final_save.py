"""The final save cannot be lost: a signal while a finished run saves its files waits for
the save, then the process exits 130 with one line (issue 20, case 2).

The run pauses inside its final save (``TAPEGRAD_TEST_PAUSE=final-save``, after model.npz,
before checkpoint.npz) until the test removes the marker file, and the signals are sent in
between, so the tests are deterministic.
"""

from __future__ import annotations

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
RUN_FILES = [
    "checkpoint.npz", "config.yaml", "data.json", "metrics.csv", "model.npz", "summary.json"
]  # fmt: skip
BAD = ("Traceback", "Aborted!", "Fatal Python error")


def start_paused(out: Path, marker: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TAPEGRAD_TEST_PAUSE": f"final-save:{marker}"}
    return subprocess.Popen(
        [*COMMAND, "train", *args, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def wait_for(marker: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached its final save")
        time.sleep(0.005)


def test_a_second_ctrl_c_during_the_final_save_waits_for_it(tmp_path):
    # The repro: training finished, Ctrl-C, and a second one during the save.
    out, marker = tmp_path / "fin", tmp_path / "marker"
    args = ["model.hidden=[64,64]", "train.epochs=2", "train.log_every=1", "train.optimizer=adam"]
    proc = start_paused(out, marker, *args, "--json")
    wait_for(marker, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    marker.unlink()  # the save goes on
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert not any(bad in stderr for bad in BAD)
    assert stderr.splitlines() == [
        f"interrupted (SIGINT) after the last epoch; the run is complete, saved to {out}"
    ]
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES  # no lock, no temporary left
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["epochs"] == 2
    assert json.loads(stdout.splitlines()[-1])["epochs"] == 2
    with np.load(out / "checkpoint.npz", allow_pickle=False) as checkpoint:
        assert "optim.0.exp_avg" in checkpoint.files  # Adam's moments were saved
    more = subprocess.run(
        [*COMMAND, "train", "--resume", str(out), "train.epochs=3", "-q"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert more.returncode == 0, more.stderr  # the saved run continues


def test_an_interrupted_run_saves_whole_files_whatever_comes_during_the_save(tmp_path):
    out, marker = tmp_path / "run", tmp_path / "marker"
    long = ["train.epochs=1000000", "train.batch_size=30", "train.log_every=1000000"]
    proc = start_paused(out, marker, *long, "-q")
    while not (out / "metrics.csv").exists() or (out / "metrics.csv").read_text().count("\n") < 3:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # stop after the current step, then save
    wait_for(marker, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    marker.unlink()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and not any(bad in stderr for bad in BAD)
    [line] = stderr.splitlines()
    assert line.startswith("interrupted (SIGTERM): stopped ") and "continue with" in line
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["resumable"] is True
