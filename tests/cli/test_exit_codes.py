"""Exit codes of ``tapegrad train`` for unusable output directories and closed streams
(issue 20, case 10): exit 2 with one line before anything is written, or a clean run."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import lock as lock_module

EXE = shutil.which("tapegrad")
COMMAND = [EXE] if EXE else [sys.executable, "-m", "tapegrad"]
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
READ_ONLY = os.strerror(errno.EROFS)


def train(*args: str):
    return CliRunner().invoke(main, ["train", "train.epochs=3", "-q", *args])


@pytest.mark.skipif(AS_ROOT or os.name != "posix", reason="root can write anywhere")
def test_an_empty_directory_that_cannot_be_written_exits_2(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = train("--out", str(out))
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: command line: output.dir {out}: cannot use it ({os.strerror(errno.EACCES)})"
    ]
    assert list(out.iterdir()) == []


@pytest.mark.skipif(AS_ROOT or os.name != "posix", reason="root can write anywhere")
def test_a_directory_that_cannot_be_created_exits_2(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = train("--out", str(parent / "run"))
    finally:
        parent.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: command line: output.dir {parent / 'run'}: cannot create it "
        f"({os.strerror(errno.EACCES)})"
    ]


def test_a_read_only_file_system_exits_2(tmp_path, monkeypatch):
    # What a read-only mount does to the first file a run creates (root included).
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, READ_ONLY, str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(lock_module.os, "open", read_only)
    out = tmp_path / "mounted"
    out.mkdir()
    result = train("--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: command line: output.dir {out}: cannot use it ({READ_ONLY})"
    ]


def test_overwrite_where_metrics_csv_is_a_directory_exits_2_before_writing(tmp_path):
    out = tmp_path / "run"
    assert train("--out", str(out)).exit_code == 0
    (out / "metrics.csv").unlink()
    (out / "metrics.csv").mkdir()
    before = {p.name: (p.stat().st_mtime_ns, p.is_dir()) for p in out.iterdir()}
    result = train("train.epochs=5", "--out", str(out), "--overwrite")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: command line: output.dir {out}: metrics.csv is a directory, so --overwrite "
        "cannot replace it; move it away or use another directory"
    ]
    assert {p.name: (p.stat().st_mtime_ns, p.is_dir()) for p in out.iterdir()} == before


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell closes stdout")
@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["plain", "json"])
def test_a_closed_stdout_does_not_crash_the_run(tmp_path, mode):
    out = tmp_path / "run"
    command = shlex.join([*COMMAND, "train", "train.epochs=3", *mode, "--out", str(out)])
    proc = subprocess.run(
        ["sh", "-c", f"exec {command} >&-"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stderr.splitlines()) == (0 if mode else 1)  # the header, when plain
    assert "Traceback" not in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["epochs"] == 3
    optional = {"loss.png"}  # drawn when matplotlib is installed
    assert sorted(p.name for p in Path(out).iterdir() if p.name not in optional) == [
        "checkpoint.npz", "config.yaml", "data.json", "metrics.csv", "model.npz", "summary.json"
    ]  # fmt: skip
