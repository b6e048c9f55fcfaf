"""A full disk (issue 20, case 3), simulated in-process: a write that fails names the file and
the reason, the other files are still tried (most valuable first), summary.json records what
failed and the command exits 1; a failed periodic checkpoint warns once and training goes
on; temporary files never stay behind."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from tapegrad.cli.main import main
from tapegrad.cli.render_train import RichRenderer
from tapegrad.train import EpochEnded, RunWarning, load_config, resume, run
from tapegrad.train import outputs as outputs_module
from tapegrad.train.outputs import RUN_FILES, RunFileError

NO_SPACE = os.strerror(errno.ENOSPC)


class FullDisk:
    """Make the atomic writes of the named files fail with ENOSPC (``times`` of them, then
    succeed), as a full file system does when their content is flushed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: set[str], times: int = 10**9):
        self.names, self.times, self.fds, self.replaced = names, times, set(), []
        real_create, real_fsync, real_replace = (
            outputs_module._create_temporary, os.fsync, os.replace
        )  # fmt: skip

        def create(path: Path) -> tuple[int, Path]:
            fd, tmp = real_create(path)
            if path.name in self.names and self.times > 0:
                self.times -= 1
                self.fds.add(fd)
            return fd, tmp

        def fsync(fd: int) -> None:
            if fd in self.fds:
                self.fds.discard(fd)
                raise OSError(errno.ENOSPC, NO_SPACE)
            real_fsync(fd)

        def replace(src, dst) -> None:
            self.replaced.append(Path(dst).name)
            real_replace(src, dst)

        monkeypatch.setattr(outputs_module, "_create_temporary", create)
        monkeypatch.setattr(outputs_module.os, "fsync", fsync)
        monkeypatch.setattr(outputs_module.os, "replace", replace)


def config(out: Path, *extra: str):
    return load_config(
        None,
        [
            "train.epochs=6",
            "train.optimizer=adam",
            "data.val_split=0.2",
            f"output.dir={out}",
            *extra,
        ],
    )


def temporaries(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_the_final_save_writes_the_most_valuable_file_first(tmp_path, monkeypatch):
    disk = FullDisk(monkeypatch, set())
    run(config(tmp_path / "run"))
    assert disk.replaced == [
        "config.yaml", "data.json", "model.npz", "best.npz", "checkpoint.npz", "summary.json"
    ]  # fmt: skip


@pytest.mark.parametrize("failing", ["model.npz", "checkpoint.npz"])
def test_a_file_that_cannot_be_written_does_not_stop_the_others(tmp_path, monkeypatch, failing):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {failing})
    result = run(config(out))
    assert result.status == "ok" and result.files_not_saved == {failing: NO_SPACE}
    assert sorted(p.name for p in out.iterdir()) == sorted(set(RUN_FILES) - {failing})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files_not_saved"] == {failing: NO_SPACE} and summary["epochs"] == 6
    assert result.summary()["files_not_saved"] == {failing: NO_SPACE}


def test_a_summary_that_cannot_be_written_is_reported(tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"summary.json"})
    result = run(config(out))
    assert result.files_not_saved == {"summary.json": NO_SPACE}
    assert sorted(p.name for p in out.iterdir()) == sorted(set(RUN_FILES) - {"summary.json"})
    with np.load(out / "model.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(f["0.weight"], result.model[0].weight.detach().numpy())


def test_the_command_names_each_file_and_exits_1(tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"checkpoint.npz", "summary.json"})
    result = CliRunner().invoke(main, ["train", "train.epochs=3", "-q", "--out", str(out)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: could not write {out / 'checkpoint.npz'} ({NO_SPACE})",
        f"error: could not write {out / 'summary.json'} ({NO_SPACE})",
    ]
    assert "final loss" in result.stdout and "Traceback" not in result.output
    names = ["config.yaml", "data.json", "metrics.csv", "model.npz"]
    assert sorted(p.name for p in out.iterdir()) == names


def test_an_interrupted_run_that_cannot_save_says_so(tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"checkpoint.npz"})
    result = run(config(out), should_stop=iter([False, False, True]).__next__)
    assert result.status == "interrupted" and result.files_not_saved == {"checkpoint.npz": NO_SPACE}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "checkpoint.npz" in summary["files_not_saved"]


def test_a_failed_periodic_checkpoint_warns_once_and_training_goes_on(tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"checkpoint.npz"}, times=2)  # the epoch-2 and epoch-4 checkpoints
    events = []
    result = run(config(out, "train.checkpoint_every=2"), events.append)
    warnings = [e for e in events if isinstance(e, RunWarning)]
    assert [w.message for w in warnings] == [
        f"could not write {out / 'checkpoint.npz'} ({NO_SPACE}) at epoch 2; training goes on"
    ]
    assert events.index(warnings[0]) == 3  # RunStarted, epochs 1 and 2, then the warning
    assert result.status == "ok" and result.epochs_done == 6 and not result.files_not_saved
    assert sum(isinstance(e, EpochEnded) for e in events) == 6
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)  # the final one saved


def test_the_command_prints_the_periodic_warning_once_on_stderr(tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"checkpoint.npz"}, times=2)
    args = ["train", "train.epochs=6", "train.checkpoint_every=2", "--json", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: could not write {out / 'checkpoint.npz'} ({NO_SPACE}) at epoch 2; "
        "training goes on"
    ]
    assert json.loads(result.stdout.splitlines()[-1])["status"] == "ok"  # stdout stays JSON


class FailingMetrics:
    """metrics.csv's file object, failing with ENOSPC from the ``after``-th row on."""

    def __init__(self, file, after: int) -> None:
        self.file, self.rows = file, -after

    def write(self, text: str) -> int:
        self.rows += 1
        if self.rows > 0:
            raise OSError(errno.ENOSPC, NO_SPACE)
        return self.file.write(text)

    def __getattr__(self, name: str):
        return getattr(self.file, name)


def test_metrics_that_cannot_be_written_fail_the_run_naming_the_file(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_init = outputs_module.RunDirectory.__init__

    def init(self, path, columns, metrics, lock):
        real_init(self, path, columns, FailingMetrics(metrics, after=4), lock)

    monkeypatch.setattr(outputs_module.RunDirectory, "__init__", init)
    result = run(config(out))
    assert result.status == "failed" and isinstance(result.error, RunFileError)
    assert result.message == f"could not write {out / 'metrics.csv'} ({NO_SPACE}) (after epoch 4)"
    assert (out / "model.npz").exists()  # what was trained is still saved


def test_no_temporary_file_stays_after_a_failed_write(tmp_path, monkeypatch):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"model.npz", "checkpoint.npz", "summary.json"})
    run(config(out))
    assert temporaries(out) == []


def test_resume_removes_the_temporary_files_a_killed_run_left(tmp_path):
    out = tmp_path / "run"
    run(config(out), should_stop=iter([False, False, True]).__next__)
    stale = [".model.npz.1a2b3c4d.tmp", ".checkpoint.npz.x.tmp", ".metrics.csv.abc.tmp"]
    for name in stale:
        (out / name).write_bytes(b"half a file")
    (out / ".notes.tmp").write_text("not ours")
    assert resume(out).status == "ok"
    assert temporaries(out) == [".notes.tmp"]


@pytest.mark.parametrize("mode", [[], ["-q"]], ids=["plain", "quiet"])
def test_plain_and_quiet_output_show_the_warning_too(tmp_path, monkeypatch, mode):
    out = tmp_path / "run"
    FullDisk(monkeypatch, {"checkpoint.npz"}, times=1)
    args = ["train", "train.epochs=4", "train.checkpoint_every=2", *mode, "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning.endswith("at epoch 2; training goes on")


def test_the_terminal_renderer_shows_the_warning():
    console = Console(file=io.StringIO(), width=200)
    renderer = RichRenderer(console, Console(file=io.StringIO()))
    renderer(RunWarning("could not write x (full)"))
    assert console.file.getvalue().strip() == "warning: could not write x (full)"
