"""Run files: atomic writes, strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tapegrad.train import outputs
from tapegrad.train.outputs import json_safe, to_json, write_npz_atomic, write_text_atomic


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
