"""Stopping and resuming: a run stopped anywhere and resumed equals the uninterrupted run,
bit for bit; whatever a resume is given that does not fit is refused with the reason."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tapegrad.train import EpochEnded, load_config, memory, resume, run
from tapegrad.train.checkpoint import pack, read
from tapegrad.train.config import ConfigError
from tapegrad.train.outputs import write_npz_atomic

VARIANTS = {
    "manual-full-batch": ["train.epochs=12"],
    "manual-minibatch": ["train.epochs=6", "train.batch_size=30"],
    "sgd-momentum": [
        "train.epochs=6", "train.optimizer=sgd", "train.momentum=0.9", "train.batch_size=40"
    ],
    "adam": ["train.epochs=6", "train.optimizer=adam", "train.lr=1e-2", "train.batch_size=32"],
    "spirals-adam": [
        "data.kind=spirals", "data.points_per_class=20", "train.optimizer=adam", "train.lr=0.02",
        "train.epochs=5", "train.batch_size=16", "model.init=torch",
    ],
}  # fmt: skip


class StopAfter:
    """A ``should_stop`` that asks to stop before step ``steps + 1``."""

    def __init__(self, steps: int) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


def metrics(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((path / "metrics.csv").open()))


def weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / "model.npz", allow_pickle=False) as f:
        return dict(f)


def interrupted_run(tmp_path: Path, overrides: list[str], steps: int) -> Path:
    out = tmp_path / "stopped"
    result = run(load_config(None, [*overrides, f"output.dir={out}"]), should_stop=StopAfter(steps))
    assert result.status == "interrupted"
    return out


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("steps", [0, 3, 7])
def test_resumed_run_equals_uninterrupted_bit_for_bit(tmp_path, name, steps):
    overrides = VARIANTS[name]
    whole = run(load_config(None, [*overrides, f"output.dir={tmp_path / 'whole'}"]))
    out = interrupted_run(tmp_path, overrides, steps)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["resumable"] is True
    resumed = resume(out)
    assert resumed.status == "ok"
    assert resumed.losses == whole.losses  # exact float equality, every epoch
    assert resumed.accuracies == whole.accuracies
    ours, theirs = metrics(out), metrics(tmp_path / "whole")
    assert [(r["epoch"], r["loss"], r.get("accuracy")) for r in ours] == [
        (r["epoch"], r["loss"], r.get("accuracy")) for r in theirs
    ]
    for key, array in weights(tmp_path / "whole").items():
        np.testing.assert_array_equal(weights(out)[key], array)


def test_resume_twice_and_train_further(tmp_path):
    overrides = ["train.epochs=8", "train.batch_size=25"]
    whole = run(load_config(None, [*overrides, "train.epochs=14"]))
    out = interrupted_run(tmp_path, overrides, 5)
    again = resume(out, should_stop=StopAfter(9))
    assert again.status == "interrupted" and again.start_epoch == 1
    assert resume(out).status == "ok"
    further = resume(out, ["train.epochs=14"])
    assert further.losses == whole.losses and further.start_epoch == 8
    assert [int(r["epoch"]) for r in metrics(out)] == list(range(1, 15))
    assert json.loads((out / "summary.json").read_text())["resumed_from_epoch"] == 8


def test_stop_before_the_first_step_saves_a_resumable_run(tmp_path):
    out = interrupted_run(tmp_path, ["train.epochs=5"], 0)
    assert metrics(out) == []
    assert json.loads((out / "summary.json").read_text())["epochs"] == 0
    assert resume(out).losses == run(load_config(None, ["train.epochs=5"])).losses


def test_interrupt_message_names_the_position(tmp_path):
    config = load_config(None, ["train.epochs=5", "train.batch_size=30"])
    assert run(config, should_stop=StopAfter(6)).message == "stopped in epoch 2 after step 2 of 4"
    assert run(config, should_stop=StopAfter(8)).message == "stopped after epoch 2"


def test_keyboard_interrupt_in_a_callback_keeps_a_resumable_run(tmp_path):
    def stop_at_three(event):
        if isinstance(event, EpochEnded) and event.epoch == 3:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    result = run(load_config(None, ["train.epochs=6", f"output.dir={out}"]), stop_at_three)
    assert result.status == "interrupted" and result.resumable and result.epochs_done == 3
    assert resume(out).losses == run(load_config(None, ["train.epochs=6"])).losses


def test_periodic_checkpoints_survive_a_crash(tmp_path):
    out = tmp_path / "run"
    config = load_config(None, ["train.epochs=10", "train.checkpoint_every=4", f"output.dir={out}"])

    def crash(event):  # a kill -9 after epoch 6: only the files written so far remain
        if isinstance(event, EpochEnded) and event.epoch == 6:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        run(config, crash)
    assert len(metrics(out)) == 6 and not (out / "summary.json").exists()
    assert read(out / "checkpoint.npz").epochs_done == 4
    result = resume(out)
    assert result.losses == run(load_config(None, ["train.epochs=10"])).losses
    assert [int(r["epoch"]) for r in metrics(out)] == list(range(1, 11))  # rows 5, 6 rewritten


# ----------------------------------------------------------------------------- refusals


@pytest.fixture
def finished(tmp_path) -> Path:
    out = tmp_path / "run"
    run(load_config(None, ["train.epochs=3", "train.batch_size=50", f"output.dir={out}"]))
    return out


def resume_error(run_dir: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        resume(run_dir, overrides)
    return str(info.value)


def test_resume_refuses_a_finished_run_until_given_more_epochs(finished):
    assert "already done 3 of its 3 epochs; pass train.epochs=N with N > 3" in resume_error(
        finished
    )
    assert resume(finished, ["train.epochs=4"]).epochs_done == 4


def test_resume_refuses_changes_that_alter_the_run(finished):
    message = resume_error(finished, ("train.lr=0.1",))
    assert message.startswith("command line: train.lr cannot change when resuming")
    config = finished / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.0001", "lr: 0.001"))
    message = resume_error(finished, ("train.epochs=5",))
    assert message.startswith(f"{config}: train.lr is 0.001 but the checkpoint was trained with")


def test_resume_refuses_a_diverged_run(tmp_path):
    out = tmp_path / "run"
    assert run(load_config(None, ["train.lr=100", f"output.dir={out}"])).status == "diverged"
    assert "ended with status diverged at epoch" in resume_error(out)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "checkpoint.npz").unlink(), "no checkpoint.npz to resume from"),
        (lambda d: (d / "checkpoint.npz").write_bytes(b"PK\x03\x04 junk"), "damaged or not a"),
        (lambda d: (d / "checkpoint.npz").write_text("not a zip"), "damaged or not a"),
        (lambda d: (d / "config.yaml").unlink(), "not a run directory (no config.yaml)"),
        (lambda d: shutil.rmtree(d), "no such run directory"),
    ],
)
def test_resume_refuses_missing_or_damaged_files(finished, damage, message):
    damage(finished)
    assert message in resume_error(finished, ("train.epochs=5",))


def edit_checkpoint(run_dir: Path, edit) -> None:
    path = run_dir / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as f:
        arrays = dict(f)
    edit(arrays)
    write_npz_atomic(path, arrays)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda a: a.update({"model.0.weight": np.zeros((16, 3), np.float32)}),
            "'0.weight' has shape (16, 3) in the checkpoint, but the model's is (32, 3)",
        ),
        (lambda a: a.pop("model.2.bias"), "the model's '2.bias' is missing from the checkpoint"),
        (
            lambda a: a.update({"model.3.weight": np.zeros(1, np.float32)}),
            "'3.weight' in the checkpoint is not a parameter of the model",
        ),
        (
            lambda a: a.update({"model.0.bias": np.array(["x"] * 32)}),
            "'0.bias' holds <U1 values in the checkpoint, but the model's are float32",
        ),
        (lambda a: a.pop("meta"), "damaged or not a tapegrad checkpoint (no meta record)"),
        (lambda a: a.update({"meta": np.array("{")}), "meta record is not JSON"),
        (
            lambda a: a.update({"history.loss": np.zeros(1)}),
            "history arrays of different lengths",
        ),
    ],
)
def test_checkpoint_that_does_not_match_is_refused_naming_the_first_mismatch(
    finished, edit, message
):
    edit_checkpoint(finished, edit)
    assert message in resume_error(finished, ("train.epochs=5",))


def test_changed_data_are_refused(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(10)))
    out = tmp_path / "run"
    config = load_config(
        None,
        ["data.kind=csv", f"data.path={data}", "train.epochs=2", "train.loss=mse",
         f"output.dir={out}"],
    )  # fmt: skip
    run(config)
    data.write_text("x,y\n" + "".join(f"{i},{3 * i}\n" for i in range(10)))
    assert "the data differ from those the checkpoint was trained on" in resume_error(
        out, ("train.epochs=3",)
    )


def test_checkpoint_holds_no_pickles(finished):
    with np.load(finished / "checkpoint.npz", allow_pickle=False) as f:
        assert all(f[name].dtype != object for name in f.files)
    snapshot = read(finished / "checkpoint.npz")
    assert snapshot.epochs_done == 3 and snapshot.step == 0
    assert set(pack(snapshot)) == set(np.load(finished / "checkpoint.npz").files)


def test_checkpoint_that_would_unpack_beyond_memory_is_refused(finished, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1000)
    assert "damaged or not a tapegrad checkpoint (it would unpack to" in resume_error(
        finished, ("train.epochs=5",)
    )
