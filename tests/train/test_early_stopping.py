"""Early stopping (train.early_stopping) and the best model (best.npz): when a run stops, what
it says, which weights best.npz holds, and that a resumed run stops where the whole one did."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tapegrad.cli.main import main
from tapegrad.train import load_config, resume, run
from tapegrad.train.config import ConfigError

#: Overfits quickly: val_loss turns up after a few dozen epochs while the training loss falls.
OVERFIT = [
    "data.n=40", "data.val_split=0.5", "model.hidden=[64]", "train.optimizer=adam",
    "train.lr=0.05", "train.epochs=300", "model.init=torch",
]  # fmt: skip


def metrics(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((path / "metrics.csv").open()))


def weights(path: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(path / name, allow_pickle=False) as f:
        return dict(f)


def stop_epoch(values: list[float], patience: int, min_delta: float) -> int | None:
    """Keras's rule, replayed on a column of metrics.csv."""
    best, wait = math.inf, 0
    for epoch, value in enumerate(values, 1):
        if value < best - min_delta:
            best, wait = value, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch
    return None


class StopAfter:
    def __init__(self, steps: int) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


# ----------------------------------------------------------------------------- the config


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("null", None),
        ("false", None),
        ("true", {"monitor": "loss", "patience": 10, "min_delta": 0.0}),
        ("4", {"monitor": "loss", "patience": 4, "min_delta": 0.0}),
        ("{patience: 2, min_delta: 0.5}", {"monitor": "loss", "patience": 2, "min_delta": 0.5}),
    ],
)
def test_early_stopping_forms(value, expected):
    assert load_config(None, [f"train.early_stopping={value}"])["train.early_stopping"] == expected


def test_the_monitor_defaults_to_val_loss_with_validation_data():
    config = load_config(None, ["data.val_split=0.2", "train.early_stopping=3"])
    assert config["train.early_stopping"]["monitor"] == "val_loss"
    config = load_config(None, ["data.val_split=0.2", "train.early_stopping={monitor: loss}"])
    assert config["train.early_stopping"]["monitor"] == "loss"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{monitor: val_loss}", "monitors val_loss, but the run has no validation data"),
        ("{patience: 0}", "train.early_stopping must be null, true, a patience"),
        ("{monitor: accuracy}", "must be null, true, a patience"),
        ("{patience: 3, wait: 2}", "must be null, true, a patience"),
        ("-1", "must be null, true, a patience"),
        ("{min_delta: -1}", "must be null, true, a patience"),
    ],
)
def test_bad_early_stopping_is_refused(value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"train.early_stopping={value}"])


def test_the_saved_config_round_trips(tmp_path):
    out = tmp_path / "r"
    config = load_config(None, [*OVERFIT, "train.early_stopping=5", f"output.dir={out}"])
    run(config)
    assert load_config(out / "config.yaml").values == config.values


# ----------------------------------------------------------------------------- stopping


def test_the_run_stops_after_patience_epochs_without_improvement(tmp_path):
    out = tmp_path / "r"
    result = run(load_config(None, [*OVERFIT, "train.early_stopping=5", f"output.dir={out}"]))
    rows = metrics(out)
    val = [float(r["val_loss"]) for r in rows]
    expected = stop_epoch(val, 5, 0.0)
    assert expected is not None and expected < 300
    assert result.status == "ok" and result.epochs_done == len(rows) == expected
    best = int(np.argmin(val)) + 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_early"] is True and summary["epochs"] == expected
    assert summary["stop_reason"] == (
        f"stopped early at epoch {expected}: val_loss did not improve by more than 0 for 5 "
        f"epochs (last improvement at epoch {best}: {min(val):.4e})"
    )
    assert summary["best_model"] == {
        "file": "best.npz", "monitor": "val_loss", "epoch": best, "value": min(val)
    }  # fmt: skip


def test_min_delta_counts_small_improvements_as_none(tmp_path):
    overrides = ["train.epochs=50", "train.early_stopping={patience: 3, min_delta: 1e9}"]
    result = run(load_config(None, overrides))
    assert result.epochs_done == 4  # epoch 1 improves on inf; 2, 3, 4 do not by 1e9
    assert result.notes["stopped_early"] and "monitor" not in result.notes


def test_a_run_that_keeps_improving_runs_all_its_epochs():
    result = run(load_config(None, ["train.epochs=30", "train.early_stopping=3"]))
    assert result.epochs_done == 30 and result.notes == {"stopped_early": False}
    assert "stop_reason" not in result.summary()


def test_best_npz_holds_the_best_epochs_weights(tmp_path):
    out = tmp_path / "r"
    result = run(load_config(None, [*OVERFIT, "train.early_stopping=5", f"output.dir={out}"]))
    best = result.notes["best_model"]["epoch"]
    assert best < result.epochs_done
    again = tmp_path / "again"  # the same run cut at the best epoch: its last model is the best
    run(load_config(None, [*OVERFIT, f"train.epochs={best}", f"output.dir={again}"]))
    for key, array in weights(again, "model.npz").items():
        np.testing.assert_array_equal(weights(out, "best.npz")[key], array)
    assert any(
        not np.array_equal(weights(out, "model.npz")[k], a)
        for k, a in weights(out, "best.npz").items()
    )


def test_best_npz_without_early_stopping_follows_val_loss(tmp_path):
    out = tmp_path / "r"
    result = run(load_config(None, [*OVERFIT, "train.epochs=60", f"output.dir={out}"]))
    val = [float(r["val_loss"]) for r in metrics(out)]
    assert result.notes["best_model"]["epoch"] == int(np.argmin(val)) + 1
    assert "stopped_early" not in result.notes


def test_no_best_npz_for_a_run_without_validation_or_early_stopping(tmp_path):
    run(load_config(None, ["train.epochs=3", f"output.dir={tmp_path / 'r'}"]))
    assert not (tmp_path / "r" / "best.npz").exists()


# ----------------------------------------------------------------------------- resume


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_a_resumed_run_stops_where_the_whole_run_did(tmp_path, share):
    overrides = [*OVERFIT, "train.early_stopping=5", "train.batch_size=8"]
    whole = run(load_config(None, [*overrides, f"output.dir={tmp_path / 'whole'}"]))
    assert whole.stop_reason is not None
    steps = int(share * 3 * whole.epochs_done) + 1  # 3 batches an epoch: mid-epoch too
    out = tmp_path / "part"
    part = run(load_config(None, [*overrides, f"output.dir={out}"]), should_stop=StopAfter(steps))
    assert part.status == "interrupted"
    resumed = resume(out)
    assert resumed.losses == whole.losses and resumed.extra == whole.extra
    assert resumed.stop_reason == whole.stop_reason and resumed.notes == whole.notes
    for key, array in weights(tmp_path / "whole", "best.npz").items():
        np.testing.assert_array_equal(weights(out, "best.npz")[key], array)


def test_a_run_that_stopped_early_is_complete(tmp_path):
    out = tmp_path / "r"
    run(load_config(None, [*OVERFIT, "train.early_stopping=5", f"output.dir={out}"]))
    with pytest.raises(ConfigError, match=r"the run stopped early at epoch \d+: .*it is complete"):
        resume(out, ["train.epochs=400"])


def test_the_display_says_why_the_run_stopped(tmp_path):
    args = [
        "train",
        *OVERFIT,
        "train.early_stopping=5",
        "train.log_every=1",
        "--out",
        str(tmp_path / "r"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("stopped     early at epoch ") for line in lines)
    assert any(line.startswith("best model  best.npz: epoch ") for line in lines)
    assert any(line.startswith("val loss    ") for line in lines)
    epoch = next(line for line in lines if line.startswith("epoch"))
    assert "  val_loss " in epoch
    json_run = CliRunner().invoke(main, [*args[:-2], "--json"])
    records = [json.loads(line) for line in json_run.stdout.splitlines()]
    assert "val_loss" in records[0] and records[-1]["stopped_early"] is True
