"""``train.scheduler``: each kind through ``optim.lr_scheduler``, the ``lr`` column, exact
resume from a checkpoint anywhere, and config errors in the config's words."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tapegrad as tg
from tapegrad import optim
from tapegrad.cli.main import main
from tapegrad.optim import lr_scheduler
from tapegrad.train import load_config, resume, run
from tapegrad.train.config import ConfigError

BASE = ["train.epochs=8", "train.batch_size=30", "train.lr=1e-3", "model.hidden=[8]"]
KINDS = {
    "step": ["train.scheduler={kind: step, step_size: 3, gamma: 0.5}"],
    "multistep": ["train.scheduler={kind: multistep, milestones: [2, 5], gamma: 0.1}"],
    "exponential": ["train.scheduler={kind: exponential, gamma: 0.9}", "train.optimizer=sgd"],
    "cosine": ["train.scheduler=cosine", "train.optimizer=adam"],
    "onecycle": ["train.scheduler={kind: onecycle, max_lr: 0.01}", "train.optimizer=adamw"],
    "onecycle-manual": ["train.scheduler=onecycle"],
    "plateau": [
        "train.scheduler={kind: plateau, patience: 0, factor: 0.5}",
        "data.val_split=0.2",
        "train.optimizer=rmsprop",
        "train.momentum=0.5",
    ],
}


def metrics(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((path / "metrics.csv").open()))


def weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / "model.npz", allow_pickle=False) as f:
        return dict(f)


class StopAfter:
    def __init__(self, steps: int) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


def torch_rates(kind: str, epochs: int, steps: int, lr: float) -> list[float]:
    """The rates our own optim.lr_scheduler gives when driven by hand (per epoch's last step)."""
    p = tg.zeros(1, requires_grad=True)
    opt = optim.SGD([p], lr=lr)
    sched = {
        "step": lambda: lr_scheduler.StepLR(opt, 3, 0.5),
        "multistep": lambda: lr_scheduler.MultiStepLR(opt, [2, 5], 0.1),
        "cosine": lambda: lr_scheduler.CosineAnnealingLR(opt, epochs),
    }[kind]()
    rates = []
    for _ in range(epochs):
        for _ in range(steps):
            opt.step()
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    return rates


@pytest.mark.parametrize("kind", ["step", "multistep", "cosine"])
def test_lr_column_follows_the_scheduler(tmp_path, kind):
    out = tmp_path / "run"
    result = run(load_config(None, [*BASE, *KINDS[kind], f"output.dir={out}"]))
    assert result.status == "ok"
    logged = [float(row["lr"]) for row in metrics(out)]
    assert logged == torch_rates(kind, 8, 4, 1e-3)
    assert len(set(logged)) > 1


def test_manual_update_follows_the_schedule(tmp_path):
    # ManualUpdate has no optimizer: a stand-in lends it the scheduled parameter group.
    config = load_config(None, ["train.epochs=3", "train.scheduler={kind: step, step_size: 1}"])
    result = run(config)
    assert result.status == "ok"
    assert result.extra["lr"] == pytest.approx([1e-4, 1e-5, 1e-6])


def test_onecycle_steps_every_batch(tmp_path):
    out = tmp_path / "run"
    run(load_config(None, [*BASE, *KINDS["onecycle"], f"output.dir={out}"]))
    logged = [float(row["lr"]) for row in metrics(out)]
    p = tg.zeros(1, requires_grad=True)
    opt = optim.AdamW([p], lr=1e-3)
    sched = lr_scheduler.OneCycleLR(opt, 0.01, epochs=8, steps_per_epoch=4, cycle_momentum=False)
    expected = []
    for _ in range(8):
        for _ in range(4):
            used = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
        expected.append(used)
    assert logged == expected
    assert max(logged) == pytest.approx(0.01, rel=0.05)


def test_plateau_lowers_the_rate_when_val_loss_stalls(tmp_path):
    overrides = [
        "train.epochs=30",
        "train.lr=1e-2",
        "train.optimizer=sgd",
        "data.val_split=0.2",
        "train.scheduler={kind: plateau, patience: 0, factor: 0.5, threshold: 0.5}",
    ]
    result = run(load_config(None, overrides))
    rates = result.extra["lr"]
    assert rates[0] == 1e-2 and rates[-1] < 1e-2
    assert all(b <= a for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize("steps", [0, 5, 13])
def test_resumed_scheduled_run_equals_uninterrupted_bit_for_bit(tmp_path, name, steps):
    overrides = [*BASE, *KINDS[name]]
    whole = run(load_config(None, [*overrides, f"output.dir={tmp_path / 'whole'}"]))
    out = tmp_path / "stopped"
    stopped = run(
        load_config(None, [*overrides, f"output.dir={out}"]), should_stop=StopAfter(steps)
    )
    assert stopped.status == "interrupted"
    resumed = resume(out)
    assert resumed.status == "ok"
    assert resumed.losses == whole.losses
    assert resumed.extra == whole.extra
    assert [(r["loss"], r["lr"]) for r in metrics(out)] == [
        (r["loss"], r["lr"]) for r in metrics(tmp_path / "whole")
    ]
    for key, array in weights(tmp_path / "whole").items():
        np.testing.assert_array_equal(weights(out)[key], array)


def test_resume_refuses_a_tampered_rate(tmp_path):
    out = tmp_path / "run"
    overrides = [*BASE, *KINDS["cosine"], f"output.dir={out}"]
    run(load_config(None, overrides), should_stop=StopAfter(9))
    path = out / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["meta"]))
    meta["optimizer"]["param_groups"][0]["lr"] = 0.5
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(ConfigError, match="lr 0.5 is not the rate the saved schedule set"):
        resume(out)


def test_resume_cannot_extend_a_onecycle_schedule(tmp_path):
    out = tmp_path / "run"
    run(load_config(None, [*BASE, *KINDS["onecycle"], f"output.dir={out}"]))
    with pytest.raises(ConfigError, match="onecycle runs for 8 epochs"):
        resume(out, ["train.epochs=10"])


def test_cosine_t_max_defaults_to_the_epochs_and_is_kept():
    config = load_config(None, ["train.epochs=7", "train.scheduler=cosine"])
    assert config["train.scheduler"] == {"kind": "cosine", "T_max": 7, "eta_min": 0.0}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.scheduler=linear", "train.scheduler must be null, a kind (step | multistep"),
        ("train.scheduler={kind: step}", "train.scheduler step needs step_size, e.g. {kind: step"),
        ("train.scheduler={kind: cosine, gamma: 2}", "cosine has no option gamma (its options: "
         "T_max, eta_min)"),
        ("train.scheduler={kind: step, step_size: 0}", "step step_size must be an integer >= 1"),
        ("train.scheduler={kind: multistep, milestones: [5, 2]}", "milestones must increase"),
        ("train.scheduler={kind: exponential, gamma: -1}", "gamma must be a number > 0"),
        ("train.scheduler={kind:step,step_size:3}", "YAML needs a space after each colon"),
        ("train.scheduler=plateau", ""),
        ("train.scheduler={kind: plateau, monitor: val_loss}", "the run has no validation data"),
        ("train.scheduler={kind: onecycle, epochs: 3}", "onecycle runs for 3 epochs"),
    ],
)  # fmt: skip
def test_bad_schedules_are_explained(override, message):
    if override == "train.scheduler=plateau":  # defaults to the loss without validation data
        assert load_config(None, [override])["train.scheduler"]["monitor"] == "loss"
        return
    with pytest.raises(ConfigError, match=_escaped(message)):
        load_config(None, [override])


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_cli_shows_lr_in_lines_json_and_print_config(tmp_path):
    runner = CliRunner()
    args = [
        "train",
        "train.epochs=4",
        "train.log_every=2",
        "train.scheduler={kind: step, step_size: 1}",
    ]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["lr"] for line in lines[:2]] == pytest.approx([1e-5, 1e-7])
    plain = runner.invoke(main, args)
    assert "lr 1.000e-05" in plain.output
    shown = runner.invoke(main, ["train", "--print-config"])
    assert "scheduler" in shown.output and "clip_grad_norm" in shown.output
