"""Run files: atomic writes, strict JSON, the directory lock, file modes."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest

from tapegrad.train import load_config, outputs, resume, run
from tapegrad.train.errors import ConfigError
from tapegrad.train.lock import LOCK_FILE, RunLock
from tapegrad.train.outputs import (
    RUN_FILES,
    check_output_dir,
    json_safe,
    to_json,
    write_npz_atomic,
    write_text_atomic,
)


def test_atomic_text_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_npz_atomic(path, {"w": object()})  # not an array: np.savez refuses without pickle
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


@pytest.mark.parametrize("name", ["model.npz", "config.yaml"])
def test_a_crash_mid_write_keeps_the_old_file_whole(tmp_path, monkeypatch, name):
    path = tmp_path / name
    path.write_bytes(b"old, complete")

    def crash(fd):  # the new content is written, then Ctrl-C lands before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        if name.endswith(".npz"):
            write_npz_atomic(path, {"w": np.ones(3)})
        else:
            write_text_atomic(path, "new content")
    assert path.read_bytes() == b"old, complete"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_npz_loads_without_pickle(tmp_path):
    write_npz_atomic(tmp_path / "m.npz", {"0.weight": np.ones((2, 3), np.float32)})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert f["0.weight"].shape == (2, 3)


def test_json_has_no_nan():
    assert json_safe({"a": [math.nan, 1.0], "b": math.inf}) == {"a": [None, 1.0], "b": None}
    assert json.loads(to_json({"loss": math.nan})) == {"loss": None}


# ----------------------------------------------------------------------------- the lock


def test_a_locked_directory_is_refused_naming_the_holder(tmp_path):
    held = RunLock.acquire(tmp_path, "here")
    try:
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        # flock locks belong to an open file: a second open in this process conflicts too
        with pytest.raises(ConfigError) as info:
            RunLock.acquire(tmp_path, "here")
        assert str(info.value) == (
            f"here: {tmp_path} is in use by another tapegrad process (pid {os.getpid()}); "
            "wait for it to finish or use another directory"
        )
    finally:
        held.release()
    assert not (tmp_path / LOCK_FILE).exists()
    RunLock.acquire(tmp_path, "here").release()  # free again
    held.release()  # idempotent


def test_a_lock_file_left_by_a_killed_run_does_not_hold_the_directory(tmp_path):
    (tmp_path / LOCK_FILE).write_text("99999999\n")  # no process holds a flock on it
    lock = RunLock.acquire(tmp_path, "here")
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    lock.release()


def test_a_lock_file_removed_by_its_holder_is_not_held_by_two(tmp_path, monkeypatch):
    # The race the inode check closes: B opens the file, A releases (unlinks) it, B locks
    # the unlinked file; B must notice and lock the file at the path instead.
    from tapegrad.train import lock as lock_module

    first = RunLock.acquire(tmp_path, "here")
    real_try_lock, calls = lock_module._try_lock, []

    def release_first_then_lock(fd):
        calls.append(fd)
        if len(calls) == 1:
            first.release()
        return real_try_lock(fd)

    monkeypatch.setattr(lock_module, "_try_lock", release_first_then_lock)
    second = RunLock.acquire(tmp_path, "here")
    assert len(calls) == 2  # the first file it locked was gone: it locked the new one
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="in use by another tapegrad process"):
        RunLock.acquire(tmp_path, "here")
    second.release()


def test_run_overwrite_and_resume_refuse_a_directory_in_use(tmp_path):
    out = tmp_path / "run"
    run(load_config(None, ["train.epochs=2", "train.checkpoint_every=1", f"output.dir={out}"]))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    held = RunLock.acquire(out, "another run")
    try:
        with pytest.raises(ConfigError, match=r"in use by another tapegrad process \(pid \d+\)"):
            run(load_config(None, ["train.epochs=2", f"output.dir={out}"]), overwrite=True)
        with pytest.raises(ConfigError) as info:
            resume(out, ["train.epochs=4"])
        assert str(info.value).startswith(f"{out}: {out} is in use by another tapegrad process")
    finally:
        held.release()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    assert resume(out, ["train.epochs=4"]).status == "ok"
    assert not (out / LOCK_FILE).exists()


def test_the_lock_file_does_not_make_a_directory_non_empty(tmp_path):
    (tmp_path / LOCK_FILE).write_text("1\n")
    check_output_dir(tmp_path, overwrite=False)


def test_a_refused_run_leaves_no_lock_and_no_directory_it_created(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ConfigError, match="CSV file not found"):
        run(load_config(None, ["data.kind=csv", "data.path=nope.csv", f"output.dir={out}"]))
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty"):
        run(load_config(None, [f"output.dir={kept}"]))
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


# ----------------------------------------------------------------------------- file modes


@pytest.fixture
def umask():
    """Set the process umask for a test, then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_run_files_get_the_mode_the_umask_gives_fresh_and_resumed(tmp_path, umask, mask, mode):
    umask(mask)
    out = tmp_path / "run"
    config = ["train.epochs=4", "train.batch_size=30", "data.val_split=0.1", f"output.dir={out}"]
    run(load_config(None, config), should_stop=iter([False] * 5 + [True]).__next__)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        name: mode for name in RUN_FILES
    }
    resume(out)  # rewrites config.yaml and metrics.csv through temporary files
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        name: mode for name in RUN_FILES
    }


def test_write_text_atomic_mode_follows_the_umask(tmp_path, umask):
    umask(0o027)
    write_text_atomic(tmp_path / "a.txt", "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


# ----------------------------------------------------------------------------- --overwrite


def test_overwrite_refuses_a_run_file_name_taken_by_a_directory(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.csv").mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError) as info:
        run(load_config(None, ["train.epochs=2", f"output.dir={out}"]), overwrite=True)
    assert str(info.value) == (
        f"command line: output.dir {out}: metrics.csv is a directory, so --overwrite cannot "
        "replace it; move it away or use another directory"
    )
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "notes.txt"]
