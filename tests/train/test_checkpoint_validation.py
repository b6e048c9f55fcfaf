"""Checkpoints are checked before they are trusted: entries from the zip directory before any
is inflated (names, ``.npy`` headers, declared sizes), then the state against the config
(optimizer hyperparameters, counters, dtypes, no extra keys). Each refusal names the file and
the field; through the CLI it is one ``error:`` line and exit 2."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import checkpoint, load_config, memory, resume, run
from tapegrad.train.checkpoint import read
from tapegrad.train.config import ConfigError

ADAM = ["train.epochs=2", "train.optimizer=adam", "train.batch_size=50", "train.lr=0.003"]
SGD = ["train.epochs=2", "train.optimizer=sgd", "train.momentum=0.9", "train.batch_size=50"]


def train_run(tmp_path: Path, overrides: list[str]) -> Path:
    out = tmp_path / "run"
    assert run(load_config(None, [*overrides, f"output.dir={out}"])).status == "ok"
    return out


@pytest.fixture
def adam_run(tmp_path: Path) -> Path:
    return train_run(tmp_path, ADAM)


@pytest.fixture
def sgd_run(tmp_path: Path) -> Path:
    return train_run(tmp_path, SGD)


def arrays_of(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoint.npz", allow_pickle=False) as f:
        return dict(f)


def write_arrays(run_dir: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(run_dir / "checkpoint.npz", **arrays)


def edit_meta(run_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    arrays = arrays_of(run_dir)
    meta = json.loads(str(arrays["meta"][()]))
    edit(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    write_arrays(run_dir, arrays)


def resume_error(run_dir: Path) -> str:
    with pytest.raises(ConfigError) as info:
        resume(run_dir, ["train.epochs=3"])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{run_dir / 'checkpoint.npz'}: "), message
    return message


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def rewrite_zip(run_dir: Path, extra: dict[str, bytes], deflate: bool = False) -> Path:
    """The run's checkpoint with ``extra`` members added (or replacing same-named ones)."""
    path = run_dir / "checkpoint.npz"
    members = {f"{k}.npy": npy_bytes(v) for k, v in arrays_of(run_dir).items()}
    members.update(extra)
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def set_declared_size(path: Path, member: str, size: int) -> None:
    """Patch the central directory so ``member`` claims ``size`` bytes uncompressed."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == name:
            struct.pack_into("<I", data, at + 24, size)
            path.write_bytes(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{member} not in {path}")


@pytest.fixture
def never_inflate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading any array fails the test: refusals must come from the directory alone."""
    monkeypatch.setattr(checkpoint, "load_arrays", lambda *a: pytest.fail("inflated"))


# ----------------------------------------------------------------------------- zip directory


def test_a_good_checkpoint_still_resumes(adam_run: Path):
    assert resume(adam_run, ["train.epochs=3"]).epochs_done == 3


def test_the_never_inflate_guard_can_fail(adam_run: Path, never_inflate: None):
    with pytest.raises(pytest.fail.Exception, match="inflated"):
        resume(adam_run, ["train.epochs=3"])


def test_unknown_entry_is_refused_not_dropped(adam_run: Path, never_inflate: None):
    rewrite_zip(adam_run, {"extra.npy": npy_bytes(np.zeros(3, np.float32))})
    assert "(unknown entry 'extra.npy')" in resume_error(adam_run)


def test_entry_that_is_not_npy_is_refused(adam_run: Path, never_inflate: None):
    rewrite_zip(adam_run, {"notes.txt": b"hello"})
    assert "(unknown entry 'notes.txt')" in resume_error(adam_run)


def test_declared_size_beyond_the_header_is_refused_before_inflating(
    adam_run: Path, never_inflate: None
):
    # a 2.5 GB claim on a few bytes: the zip directory alone gives it away
    path = rewrite_zip(adam_run, {})
    set_declared_size(path, "model.0.bias.npy", 2_500_000_000)
    message = resume_error(adam_run)
    assert "entry 'model.0.bias' declares 2500000000 bytes uncompressed, but its shape (32,)" in (
        message
    )


def test_padded_entry_is_refused_before_inflating(adam_run: Path, never_inflate: None):
    # a real bomb in miniature: a valid header, then 8 MB of zeros that deflate to ~8 kB
    padded = npy_bytes(arrays_of(adam_run)["model.0.bias"]) + bytes(8_000_000)
    path = rewrite_zip(adam_run, {"model.0.bias.npy": padded}, deflate=True)
    assert path.stat().st_size < 200_000
    assert "entry 'model.0.bias' declares 8000" in resume_error(adam_run)


def test_sum_of_declared_sizes_is_checked_against_memory(adam_run: Path, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1000)
    assert "(it would unpack to " in resume_error(adam_run)


def test_duplicate_entry_is_refused(adam_run: Path, never_inflate: None):
    with pytest.warns(UserWarning, match="Duplicate name"):
        rewrite_zip(adam_run, {})
        with zipfile.ZipFile(adam_run / "checkpoint.npz", "a") as archive:
            archive.writestr("model.0.bias.npy", npy_bytes(np.ones(32, np.float32)))
    assert "(entry 'model.0.bias' appears twice)" in resume_error(adam_run)


def test_pickled_entry_is_refused(adam_run: Path, never_inflate: None):
    rewrite_zip(adam_run, {"model.0.bias.npy": npy_bytes(np.array([None] * 32, dtype=object))})
    assert "(entry 'model.0.bias' holds object values)" in resume_error(adam_run)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_checkpoint_that_is_not_a_regular_file_is_refused(adam_run: Path, kind: str):
    path = adam_run / "checkpoint.npz"
    path.unlink()
    if kind == "directory":
        path.mkdir()
    else:
        pytest.importorskip("os").mkfifo(path)
    expected = "a directory" if kind == "directory" else "a FIFO"
    assert f"damaged or not a tapegrad checkpoint (it is {expected})" in resume_error(adam_run)


def test_read_without_a_config_checks_the_directory_too(adam_run: Path):
    path = rewrite_zip(adam_run, {"extra.npy": npy_bytes(np.zeros(1))})
    with pytest.raises(ConfigError, match="unknown entry 'extra.npy'"):
        read(path)


# ----------------------------------------------------------------------------- layout vs config


@pytest.mark.parametrize(
    ("name", "array", "message"),
    [
        (
            "model.0.weight",
            np.zeros((32, 3), np.float16),
            "'0.weight' holds float16 values in the checkpoint, but the model's are float32",
        ),
        (
            "model.0.weight",
            np.zeros((32, 3), np.float64),
            "'0.weight' holds float64 values in the checkpoint, but the model's are float32",
        ),
        (
            "optim.1.exp_avg",
            np.zeros(32, np.float16),
            "'optim.1.exp_avg' is float16 (32,) in the checkpoint, but its parameter is "
            "float32 (32,)",
        ),
        (
            "optim.1.exp_avg",
            np.zeros(31, np.float32),
            "'optim.1.exp_avg' is float32 (31,) in the checkpoint",
        ),
        (
            "optim.4.exp_avg",
            np.zeros(1, np.float32),
            "'optim.4.exp_avg' in the checkpoint is not a buffer of the optimizer "
            "(train.optimizer adam keeps exp_avg, exp_avg_sq for 4 parameters)",
        ),
        (
            "optim.0.momentum_buffer",
            np.zeros((32, 3), np.float32),
            "'optim.0.momentum_buffer' in the checkpoint is not a buffer of the optimizer",
        ),
    ],
)
def test_arrays_must_be_the_models_and_optimizers(
    adam_run: Path, never_inflate: None, name: str, array: np.ndarray, message: str
):
    rewrite_zip(adam_run, {f"{name}.npy": npy_bytes(array)})
    assert message in resume_error(adam_run)


def test_missing_optimizer_buffer_is_named(adam_run: Path):
    arrays = arrays_of(adam_run)
    del arrays["optim.2.exp_avg_sq"]
    write_arrays(adam_run, arrays)
    assert "the optimizer's 'optim.2.exp_avg_sq' is missing from the checkpoint" in (
        resume_error(adam_run)
    )


# ----------------------------------------------------------------------------- state vs config


def set_group(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta["optimizer"]["param_groups"][0].__setitem__(key, value)


def set_step(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta["optimizer"]["scalars"]["1"].__setitem__("step", value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            set_group("lr", 100),
            "optimizer param_groups[0].lr is 100 in the checkpoint, but train.lr in the "
            "config is 0.003; a resumed run keeps its hyperparameters",
        ),
        (set_group("betas", [0.5, 0.999]), "param_groups[0].betas[0] is 0.5 in the checkpoint"),
        (set_group("eps", 1.0), "param_groups[0].eps is 1.0 in the checkpoint, but the config's"),
        (set_group("weight_decay", 0.1), "param_groups[0].weight_decay is 0.1"),
        (set_group("amsgrad", 0), "param_groups[0].amsgrad is 0 in the checkpoint"),
        (set_group("sneaky", 1), "optimizer param_groups[0].sneaky is not a field of the state"),
        (set_step("150"), 'optimizer state 1.step must be an integer >= 0, got "150"'),
        (set_step(-1), "optimizer state 1.step must be an integer >= 0, got -1"),
        (set_step(3.0), "optimizer state 1.step must be an integer >= 0, got 3.0"),
        (set_step(True), "optimizer state 1.step must be an integer >= 0, got true"),
        (
            lambda m: m["optimizer"]["scalars"]["1"].update(extra=1),
            "optimizer state 1.extra is not kept by train.optimizer adam",
        ),
        (
            lambda m: m["optimizer"]["scalars"]["0"].pop("step"),
            "optimizer state 0.step is missing",
        ),
        (
            lambda m: m["optimizer"]["scalars"].update({"9": {"step": 1}}),
            "optimizer state for parameter 9, but the model has 4",
        ),
        (lambda m: m.update(step="0"), "field 'step' is missing or of the wrong type"),
        (lambda m: m.update(step=-1), "field 'step' is negative (-1)"),
        (lambda m: m.update(step=0.0), "field 'step' is missing or of the wrong type"),
        (lambda m: m.update(correct=-3), "field 'correct' is negative (-3)"),
        (lambda m: m.update(extra=1), "unknown field 'extra' in the meta record"),
    ],
)
def test_tampered_state_is_refused_naming_the_field(adam_run: Path, edit, message: str):
    edit_meta(adam_run, edit)
    assert message in resume_error(adam_run)


def test_sgd_momentum_is_checked(sgd_run: Path):
    edit_meta(sgd_run, set_group("momentum", 0.5))
    message = resume_error(sgd_run)
    assert "param_groups[0].momentum is 0.5 in the checkpoint, but train.momentum in the " in (
        message
    )


def test_sgd_keeps_no_counters(sgd_run: Path):
    edit_meta(sgd_run, lambda m: m["optimizer"]["scalars"].update({"0": {"step": 1}}))
    assert "optimizer state 0.step is not kept by train.optimizer sgd" in resume_error(sgd_run)


def test_optimizer_state_in_a_manual_run_is_refused(tmp_path: Path):
    out = train_run(tmp_path, ["train.epochs=2"])
    edit_meta(out, lambda m: m.update(optimizer={"param_groups": [], "scalars": {}}))
    assert "the optimizer state does not match train.optimizer manual" in resume_error(out)


def test_cli_resume_of_a_tampered_checkpoint_is_one_line_exit_2(adam_run: Path):
    edit_meta(adam_run, set_group("lr", 100))
    result = CliRunner().invoke(main, ["train", "--resume", str(adam_run), "train.epochs=3"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "param_groups[0].lr is 100" in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize("fixture", ["adam_run", "sgd_run"])
def test_a_checkpoint_from_before_the_optimizer_flags_still_resumes(fixture, request, tmp_path):
    """Checkpoints written before SGD/Adam gained PyTorch's foreach/fused/... group flags lack
    them; they resume with the flags' defaults, exactly as an uninterrupted run."""
    run_dir = request.getfixturevalue(fixture)
    older = ("foreach", "fused", "differentiable", "capturable")

    def strip(meta: dict[str, Any]) -> None:
        for group in meta["optimizer"]["param_groups"]:
            for key in older:
                group.pop(key, None)

    edit_meta(run_dir, strip)
    resumed = resume(run_dir, ["train.epochs=3"])
    overrides = ADAM if fixture == "adam_run" else SGD
    straight = run(load_config(None, [*overrides, "train.epochs=3"]))
    assert resumed.losses == straight.losses and len(resumed.losses) == 3


def test_a_missing_flag_with_a_non_default_value_is_still_refused(adam_run: Path):
    def strip(meta: dict[str, Any]) -> None:
        meta["optimizer"]["param_groups"][0].pop("lr")

    edit_meta(adam_run, strip)
    assert "param_groups[0].lr is missing from the state" in resume_error(adam_run)
