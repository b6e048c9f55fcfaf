"""Held-out data (data.val_split, data.val_path) and input scaling (data.normalize): the split,
the statistics, val_loss/val_accuracy per epoch, and exact resume with all of them on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.train import load_config, prepare, resume, run
from tapegrad.train.config import ConfigError
from tapegrad.train.data import make_dataset
from tapegrad.train.heldout import DataInfo


def metrics(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((path / "metrics.csv").open()))


def weights(path: Path, name: str = "model.npz") -> dict[str, np.ndarray]:
    with np.load(path / name, allow_pickle=False) as f:
        return dict(f)


class StopAfter:
    def __init__(self, steps: int) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


def write_csv(path: Path, rows: list[list[float]], header: str = "a,b,y") -> Path:
    lines = [header, *(",".join(map(str, r)) for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- the split


def test_val_split_holds_out_a_seeded_share_of_the_samples():
    config = load_config(None, ["data.val_split=0.25", "data.n=40"])
    trainer = prepare(config)
    assert trainer.data.n == 30 and trainer.held_out is not None and trainer.held_out.n == 10
    tg.manual_seed(0)
    full = make_dataset(config)
    rows_list = [tuple(r) for r in full.x.tolist()]
    rows = set(rows_list)
    train_rows = {tuple(r) for r in trainer.data.x.tolist()}
    val_rows = {tuple(r) for r in trainer.held_out.x.tolist()}
    assert train_rows | val_rows == rows and not train_rows & val_rows
    again = prepare(config)  # the same seed draws the same split
    np.testing.assert_array_equal(again.held_out.x, trainer.held_out.x)
    indices = [sorted(rows_list.index(r) for r in val_rows)]
    for seed in (1, 2):
        config = load_config(None, ["data.val_split=0.25", "data.n=40", f"seed={seed}"])
        tg.manual_seed(seed)
        full_rows = make_dataset(config).x.tolist()
        held_out = prepare(config).held_out.x.tolist()
        indices.append(sorted(full_rows.index(r) for r in held_out))
    assert indices[0] != indices[1] != indices[2]


def test_no_validation_keeps_the_metrics_columns_and_the_summary(tmp_path):
    result = run(load_config(None, ["train.epochs=3", f"output.dir={tmp_path / 'r'}"]))
    assert list(metrics(tmp_path / "r")[0]) == ["epoch", "loss", "seconds"]
    assert not any(key.startswith("final_val") for key in result.summary())


def test_val_loss_is_the_loss_of_each_epochs_model_on_the_held_out_part(tmp_path):
    out = tmp_path / "r"
    config = load_config(None, ["data.val_split=0.2", "train.epochs=4", f"output.dir={out}"])
    result = run(config)
    rows = metrics(out)
    assert list(rows[0]) == ["epoch", "loss", "val_loss", "seconds"]
    trainer = prepare(config)  # the same split and weights; the last epoch's model is saved
    trainer.model.load_state_dict({k: tg.tensor(v) for k, v in weights(out).items()})
    y_pred = trainer.model(tg.from_numpy(trainer.held_out.x))
    expected = ((y_pred - tg.from_numpy(trainer.held_out.y)) ** 2).sum().item()
    assert float(rows[-1]["val_loss"]) == expected == result.extra["val_loss"][-1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_val_loss"] == expected
    assert summary["best_val_loss"] == min(float(r["val_loss"]) for r in rows)


def test_classification_records_val_accuracy(tmp_path):
    out = tmp_path / "r"
    overrides = ["data.kind=spirals", "data.points_per_class=20", "data.val_split=0.3"]
    config = load_config(None, [*overrides, "train.epochs=3", f"output.dir={out}"])
    result = run(config)
    rows = metrics(out)
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    held_out = prepare(config).held_out
    assert held_out.n == 18 and held_out.n_classes == 3
    accuracy = float(rows[-1]["val_accuracy"])
    assert accuracy * 18 == pytest.approx(round(accuracy * 18))
    assert result.summary()["final_val_accuracy"] == accuracy


def test_val_split_must_leave_samples_on_both_sides():
    with pytest.raises(ConfigError, match=r"data.val_split must be a number between 0 and 1"):
        load_config(None, ["data.val_split=1.5"])
    with pytest.raises(ConfigError, match=r"leaves 0 for validation and 10 for training"):
        prepare(load_config(None, ["data.val_split=0.01", "data.n=10"]))


# ----------------------------------------------------------------------------- scaling


def test_standard_scaling_uses_the_training_parts_statistics(tmp_path):
    out = tmp_path / "r"
    overrides = ["data.val_split=0.3", "data.normalize=standard", "data.weights=[2, 30, -1]"]
    config = load_config(None, [*overrides, "train.epochs=2", f"output.dir={out}"])
    trainer = prepare(config)
    np.testing.assert_allclose(trainer.data.x.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(trainer.data.x.std(axis=0), 1, atol=1e-5)
    run(config)
    info = DataInfo.read(out)
    assert info.normalize == "standard" and (info.train_samples, info.val_samples) == (70, 30)
    tg.manual_seed(0)
    raw = make_dataset(config)
    order = tg.default_generator().permutation(100)
    train_x = raw.x[np.sort(order[30:])]
    np.testing.assert_array_equal(info.scaling.mean, train_x.mean(axis=0, dtype=np.float64))
    np.testing.assert_array_equal(info.scaling.std, train_x.std(axis=0, dtype=np.float64))
    val_x = raw.x[np.sort(order[:30])]
    np.testing.assert_array_equal(trainer.held_out.x, info.scaling.apply(val_x))


def test_normalize_none_leaves_the_inputs_alone():
    config = load_config(None, ["data.val_split=0.5"])
    tg.manual_seed(0)
    raw = make_dataset(config)
    trainer = prepare(config)
    assert {tuple(r) for r in trainer.data.x.tolist()} <= {tuple(r) for r in raw.x.tolist()}


def test_a_constant_feature_is_only_centred(tmp_path):
    rows = [[1.0, float(i), 2.0 * i] for i in range(10)]
    path = write_csv(tmp_path / "d.csv", rows)
    config = load_config(
        None, ["data.kind=csv", f"data.path={path}", "data.normalize=standard", "train.loss=mse"]
    )
    trainer = prepare(config)
    assert np.all(trainer.data.x[:, 0] == 0) and trainer.info.scaling.std[0] == 1.0


# ----------------------------------------------------------------------------- val_path


def csv_config(tmp_path: Path, *extra: str) -> list[str]:
    rng = np.random.default_rng(0)
    rows = [[float(a), float(b), float(a - b)] for a, b in rng.normal(size=(30, 2))]
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "val.csv", rows[:7])
    return [
        "data.kind=csv", f"data.path={tmp_path / 'train.csv'}", "train.loss=mse",
        f"data.val_path={tmp_path / 'val.csv'}", *extra,
    ]  # fmt: skip


def test_val_path_reads_a_second_csv(tmp_path):
    out = tmp_path / "r"
    config = load_config(None, [*csv_config(tmp_path), "train.epochs=3", f"output.dir={out}"])
    trainer = prepare(config)
    assert trainer.data.n == 30 and trainer.held_out.n == 7
    run(config)
    assert "val_loss" in metrics(out)[0]
    assert DataInfo.read(out).features == ["a", "b"]


def test_val_path_relative_to_the_config_file(tmp_path):
    csv_config(tmp_path)
    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        "data: {kind: csv, path: train.csv, val_path: val.csv}\ntrain: {loss: mse}\n"
    )
    assert load_config(config_file)["data.val_path"] == str((tmp_path / "val.csv").resolve())


def test_val_path_needs_the_same_columns(tmp_path):
    overrides = csv_config(tmp_path)
    write_csv(tmp_path / "val.csv", [[1.0, 2.0, 3.0]], header="a,c,y")
    with pytest.raises(ConfigError, match=r"val.csv: data.val_path has columns a, c, y, but"):
        prepare(load_config(None, overrides))
    (tmp_path / "val.csv").unlink()
    with pytest.raises(ConfigError, match=r"CSV file not found \(data.val_path\)"):
        prepare(load_config(None, overrides))


def test_val_path_and_val_split_exclude_each_other(tmp_path):
    with pytest.raises(ConfigError, match="cannot be combined with data.val_split"):
        load_config(None, [*csv_config(tmp_path), "data.val_split=0.2"])
    with pytest.raises(ConfigError, match="applies only to data.kind csv"):
        load_config(None, ["data.val_path=x.csv"])


def test_val_path_labels_must_be_training_classes(tmp_path):
    write_csv(tmp_path / "train.csv", [[0.1, 0.2, 0], [0.3, 0.1, 1], [0.5, 0.5, 1]])
    write_csv(tmp_path / "val.csv", [[0.1, 0.2, 2]])
    overrides = [
        "data.kind=csv", f"data.path={tmp_path / 'train.csv'}", "train.loss=cross_entropy",
        f"data.val_path={tmp_path / 'val.csv'}",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="has class label 2, but the training data have classes"):
        prepare(load_config(None, overrides))


# ----------------------------------------------------------------------------- resume


VARIANTS = {
    "split-full-batch": ["train.epochs=8"],
    "split-minibatch-adam": [
        "train.epochs=5", "train.batch_size=16", "train.optimizer=adam", "train.lr=0.01",
    ],
    "spirals": [
        "data.kind=spirals", "data.points_per_class=20", "train.optimizer=adam", "train.lr=0.02",
        "train.epochs=5", "train.batch_size=16", "model.init=torch",
    ],
}  # fmt: skip
HELD_OUT = ["data.val_split=0.25", "data.normalize=standard", "train.early_stopping=50"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("steps", [0, 3, 7])
def test_resume_with_validation_is_bit_for_bit(tmp_path, name, steps):
    overrides = [*VARIANTS[name], *HELD_OUT]
    whole = tmp_path / "whole"
    expected = run(load_config(None, [*overrides, f"output.dir={whole}"]))
    out = tmp_path / "stopped"
    config = load_config(None, [*overrides, f"output.dir={out}"])
    assert run(config, should_stop=StopAfter(steps)).status == "interrupted"
    resumed = resume(out)
    assert resumed.losses == expected.losses and resumed.extra == expected.extra
    ours, theirs = metrics(out), metrics(whole)
    assert [r.pop("seconds") and r for r in ours] == [r.pop("seconds") and r for r in theirs]
    for name_ in ("model.npz", "best.npz"):
        for key, array in weights(whole, name_).items():
            np.testing.assert_array_equal(weights(out, name_)[key], array)
    assert (out / "data.json").read_text() == (whole / "data.json").read_text()


def test_resume_refuses_a_changed_validation_csv(tmp_path):
    out = tmp_path / "r"
    config = load_config(None, [*csv_config(tmp_path), "train.epochs=3", f"output.dir={out}"])
    run(config, should_stop=StopAfter(1))
    write_csv(tmp_path / "val.csv", [[1.0, 2.0, 3.0]])
    with pytest.raises(ConfigError, match="the data differ"):
        resume(out)


def test_a_checkpoint_saved_before_these_keys_existed_still_resumes(tmp_path):
    from tapegrad.train.checkpoint import pack, read
    from tapegrad.train.outputs import write_npz_atomic

    out = tmp_path / "r"
    run(load_config(None, ["train.epochs=4", f"output.dir={out}"]), should_stop=StopAfter(2))
    snapshot = read(out / "checkpoint.npz")
    for key in ("data.val_split", "data.normalize", "train.early_stopping"):
        del snapshot.config[key]
    write_npz_atomic(out / "checkpoint.npz", pack(snapshot))
    (out / "data.json").unlink()
    assert resume(out).losses == run(load_config(None, ["train.epochs=4"])).losses
    assert DataInfo.read(out).features == ["x1", "x2", "x3"]  # written by the resume


def test_a_stop_while_validating_resumes_exactly(tmp_path, monkeypatch):
    from tapegrad.train.val_metrics import ValidationMetrics

    overrides = ["data.val_split=0.2", "train.epochs=6", "train.batch_size=40"]
    whole = run(load_config(None, overrides))
    measure = ValidationMetrics.measure

    def interrupted(self, trainer, event):
        if event.epoch == 3 and not getattr(self, "stopped", False):
            self.stopped = True
            raise KeyboardInterrupt  # a second Ctrl-C: after the epoch's steps, not recorded
        measure(self, trainer, event)

    monkeypatch.setattr(ValidationMetrics, "measure", interrupted)
    out = tmp_path / "r"
    part = run(load_config(None, [*overrides, f"output.dir={out}"]))
    assert part.status == "interrupted" and part.resumable and part.epochs_done == 2
    assert part.message == "stopped in epoch 3 after step 2 of 2"
    monkeypatch.setattr(ValidationMetrics, "measure", measure)
    resumed = resume(out)
    assert resumed.losses == whole.losses and resumed.extra == whole.extra
