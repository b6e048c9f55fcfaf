"""``tapegrad train --sweep`` with real subprocesses (a 2x2 grid, a few epochs), the resumed
sweep, Ctrl-C stopping every run; ``tapegrad plot --out`` writing a PNG in a subprocess.
Steps that start no training process run in-process (CliRunner) to keep this file fast."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
COMMAND = [sys.executable, "-m", "tapegrad"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
GRID = ["--sweep", "train.lr=0.01,0.1", "--sweep", "model.hidden=[8],[16]"]
NAMES = [
    "train.lr=0.01,model.hidden=[16]", "train.lr=0.01,model.hidden=[8]",
    "train.lr=0.1,model.hidden=[16]", "train.lr=0.1,model.hidden=[8]",
]  # fmt: skip


def tapegrad(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT
    )


def in_process(*args: str):
    """The command in this process: for steps that start no training subprocess."""
    return CliRunner().invoke(main, list(args))


def summaries(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("*/summary.json"))}


def test_a_grid_runs_in_parallel_then_resumes_as_a_whole(tmp_path):
    out = tmp_path / "sweep"
    spirals = str(CONFIGS / "spirals.yaml")
    first = tapegrad("train", spirals, "train.epochs=5", *GRID, "--out", str(out), "--jobs", "4")
    assert first.returncode == 0, first.stderr
    assert sorted(summaries(out)) == NAMES
    assert all(s["status"] == "ok" and s["epochs"] == 5 for s in summaries(out).values())
    lines = first.stdout.splitlines()  # the runs table, best first
    assert lines[0].split()[:4] == ["model.hidden", "train.lr", "status", "epochs"]
    best = [float(line.split()[5]) for line in lines[1:]]
    assert len(best) == 4 and best == sorted(best)
    assert "sweep: 4 runs" in first.stderr and "(0 done, 0 to resume, 4 to start)" in first.stderr
    config = (out / NAMES[1] / "config.yaml").read_text()
    assert "hidden: [8]" in config and "lr: 0.01" in config

    again = in_process("train", spirals, "train.epochs=5", *GRID, "--out", str(out))
    assert again.exit_code == 0, again.output
    assert "(4 done, 0 to resume, 0 to start)" in again.stderr and "starting" not in again.stderr

    table = in_process("runs", str(out), "--json")
    assert table.exit_code == 0, table.output
    data = json.loads(table.stdout)
    assert data["keys"] == ["model.hidden", "train.lr"] and len(data["runs"]) == 4


def test_sweep_usage_errors_start_nothing(tmp_path):
    out = tmp_path / "sweep"
    no_out = in_process("train", "--sweep", "train.lr=1e-4,1e-5")
    assert no_out.exit_code == 2 and "--sweep needs --out DIR" in no_out.stderr
    bad = in_process("train", "--sweep", "train.lr=1e-4,-1", "--out", str(out))
    assert bad.exit_code == 2 and "train.lr must be a number > 0, got -1" in bad.stderr
    jobs = in_process("train", "--sweep", "seed=1,2", "--out", str(out), "--jobs", "0")
    assert jobs.exit_code == 2 and jobs.stderr.startswith("error: Invalid value for '--jobs'")
    assert not out.exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_ctrl_c_stops_every_run_keeps_them_and_the_same_sweep_resumes(tmp_path):
    out = tmp_path / "sweep"
    args = ["train", "train.epochs=100000", "train.log_every=1000", "--sweep", "seed=0,1"]
    proc = subprocess.Popen(
        [*COMMAND, *args, "--out", str(out), "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    metrics = [out / name / "metrics.csv" for name in ("seed=0", "seed=1")]
    while time.monotonic() < deadline:  # both runs are training
        if all(m.exists() and m.read_text().count("\n") > 2 for m in metrics):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted (SIGINT): the sweep stopped" in stderr and "Traceback" not in stderr
    for name, summary in summaries(out).items():
        assert summary["status"] == "interrupted" and summary["resumable"], name
        assert (out / name / "checkpoint.npz").is_file()
    assert len(summaries(out)) == 2 and "interrupted" in stdout  # the table, still printed
    shutil.rmtree(out / "seed=1")  # sweeping again: seed=0 resumes, seed=1 starts afresh
    epochs = summaries(out)["seed=0"]["epochs"] + 20
    args[1] = f"train.epochs={epochs}"
    again = tapegrad(*args, "--out", str(out), "--jobs", "2")
    assert again.returncode == 0, again.stderr
    assert "(0 done, 1 to resume, 1 to start)" in again.stderr
    done = summaries(out)
    assert done["seed=0"]["status"] == done["seed=1"]["status"] == "ok"
    assert done["seed=0"]["epochs"] == done["seed=1"]["epochs"] == epochs
    assert "resumed_from_epoch" in done["seed=0"] and "resumed_from_epoch" not in done["seed=1"]
    refused = in_process(*args, "--out", str(out), "--print-config")
    assert refused.exit_code == 2 and "cannot be combined with --sweep" in refused.stderr


def test_plot_writes_a_png_of_several_runs(tmp_path):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run0"
    trained = in_process("train", "train.epochs=20", "--out", str(run), "-q")
    assert trained.exit_code == 0, trained.output
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # drawn at the end
    shutil.copytree(run, tmp_path / "run1")
    picture = tmp_path / "both.png"
    result = tapegrad("plot", str(run), str(tmp_path / "run1"), "--out", str(picture))
    assert result.returncode == 0, result.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 5000
