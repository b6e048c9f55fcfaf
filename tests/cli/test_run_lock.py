"""One process per run directory (issue 20, case 1), with real processes: a second run into
a directory in use exits 2 naming it and the holder's pid; two runs started at
once never mix their files; the kernel frees the directory when its holder is killed."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fcntl locks")

EXE = shutil.which("tapegrad")
COMMAND = [EXE] if EXE else [sys.executable, "-m", "tapegrad"]
LONG = ["train.epochs=1000000", "train.batch_size=30", "train.log_every=1000000"]
BAD = ("Traceback", "Aborted!", "Fatal Python error")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "train", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def tapegrad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60)


def wait_for_rows(proc: subprocess.Popen[str], out: Path, rows: int = 2) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        metrics = out / "metrics.csv"
        if metrics.exists() and metrics.read_text().count("\n") > rows:
            return
        time.sleep(0.01)
    proc.kill()
    pytest.fail("training did not start in time")


def busy(out: Path, pid: int) -> str:
    return f"{out} is in use by another tapegrad process (pid {pid})"


def test_a_second_run_into_a_busy_directory_exits_2(tmp_path):
    out = tmp_path / "run"
    first = start(*LONG, "--out", str(out))
    try:
        wait_for_rows(first, out)
        assert (out / ".tapegrad.lock").read_text().strip() == str(first.pid)
        # --overwrite does not get past the lock either (resume: see tests/train/test_outputs.py)
        second = tapegrad("train", "--out", str(out), "--overwrite")
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"error: command line: {busy(out, first.pid)}; wait for it to finish or use "
            "another directory"
        ]
    finally:
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=30)
    assert first.returncode == 130 and not any(bad in stderr for bad in BAD)
    assert not (out / ".tapegrad.lock").exists()  # released and removed
    rows = [int(r["epoch"]) for r in csv.DictReader((out / "metrics.csv").open())]
    assert rows == list(range(1, len(rows) + 1))  # one run's rows, whole and in order


def test_two_runs_started_at_once_one_runs_the_other_exits_2(tmp_path):
    out = tmp_path / "run"  # does not exist yet: both create it
    procs = {seed: start(*LONG, f"seed={seed}", "-q", "--out", str(out)) for seed in (1, 5)}
    try:
        deadline = time.monotonic() + 30
        while all(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        [(loser_seed, loser)] = [(s, p) for s, p in procs.items() if p.poll() is not None]
        [(winner_seed, winner)] = [(s, p) for s, p in procs.items() if p is not loser]
        _, loser_err = loser.communicate()
        assert loser.returncode == 2, loser_err
        assert busy(out, winner.pid) in loser_err and len(loser_err.splitlines()) == 1
        wait_for_rows(winner, out)
        winner.send_signal(signal.SIGTERM)
        winner.communicate(timeout=30)
        assert winner.returncode == 130
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == winner_seed != loser_seed
    rows = [r["epoch"] for r in csv.DictReader((out / "metrics.csv").open())]
    assert rows == [str(i) for i in range(1, len(rows) + 1)]


def test_the_kernel_frees_the_directory_of_a_killed_run(tmp_path):
    out = tmp_path / "run"
    first = start(*LONG, "--out", str(out))
    wait_for_rows(first, out)
    first.kill()  # SIGKILL: no handler runs, the lock file stays behind
    first.communicate()
    assert (out / ".tapegrad.lock").exists()
    again = tapegrad("train", "train.epochs=2", "-q", "--out", str(out), "--overwrite")
    assert again.returncode == 0, again.stderr
    assert not (out / ".tapegrad.lock").exists()
