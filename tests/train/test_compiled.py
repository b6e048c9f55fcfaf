"""``train.compile``: the Trainer's step replayed gives the eager run's numbers, bit for bit."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tapegrad.train import load_config, run
from tapegrad.train.result import RunResult

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _both(config_path: Path | None, overrides: list[str]) -> tuple[RunResult, RunResult]:
    runs = []
    for flag in ("true", "false"):
        config = load_config(config_path, [*overrides, f"train.compile={flag}"])
        runs.append(run(config))
    return runs[0], runs[1]


def _assert_same_run(compiled: RunResult, eager: RunResult) -> None:
    assert compiled.status == eager.status
    assert compiled.message == eager.message
    assert compiled.losses == eager.losses  # exact: the replay does the eager step's arithmetic
    assert compiled.accuracies == eager.accuracies
    assert compiled.extra == eager.extra
    for (name, p), (_, q) in zip(compiled.model.named_parameters(), eager.model.named_parameters()):
        np.testing.assert_array_equal(p._data, q._data, err_msg=name)
    for (name, b), (_, c) in zip(compiled.model.named_buffers(), eager.model.named_buffers()):
        np.testing.assert_array_equal(b._data, c._data, err_msg=name)


@pytest.mark.parametrize("name", ["blog.yaml", "csv.yaml", "regression_deep.yaml", "spirals.yaml"])
def test_every_shipped_config_replays_with_the_eager_numbers(name: str) -> None:
    compiled, eager = _both(CONFIGS / name, ["train.epochs=12", "train.log_every=1"])
    _assert_same_run(compiled, eager)
    assert compiled.compile["eager_reason"] is None
    assert compiled.compile["replayed_steps"] >= 10  # first step eager, the second recorded
    assert eager.compile == {"replayed_steps": 0, "eager_reason": "train.compile is false"}


OPTIONS: dict[str, list[str]] = {
    "sgd momentum": ["train.optimizer=sgd", "train.momentum=0.9"],
    "adam": ["train.optimizer=adam", "train.lr=1e-2"],
    "adamw": ["train.optimizer=adamw", "train.lr=1e-2", "train.weight_decay=0.1"],
    "rmsprop": ["train.optimizer=rmsprop", "train.lr=1e-3"],
    "adagrad": ["train.optimizer=adagrad", "train.lr=1e-2"],
    "mini-batches, a smaller last one": ["train.batch_size=32"],
    "shuffled mini-batches with adam": ["train.batch_size=30", "train.optimizer=adam"],
    "per-epoch schedule": ["train.scheduler={kind: step, step_size: 3, gamma: 0.5}"],
    "per-batch schedule": [
        "train.optimizer=sgd",
        "train.batch_size=25",
        "train.scheduler={kind: onecycle, max_lr: 0.001}",
    ],
    "batch norm": ["model.norm=batch", "train.batch_size=50"],
    "layer norm": ["model.norm=layer", "model.activation=tanh"],
    "mse loss": ["train.loss=mse", "train.lr=1e-2"],
    "dropout": ["model.dropout=0.2", "train.optimizer=adam", "train.batch_size=30"],
    "clip_grad_norm": ["train.clip_grad_norm=0.5", "train.lr=1e-3"],
    "clip_grad_norm, adam": ["train.clip_grad_norm=0.1", "train.optimizer=adam"],
}


@pytest.mark.parametrize("overrides", OPTIONS.values(), ids=OPTIONS.keys())
def test_options_replay_with_the_eager_numbers(overrides: list[str]) -> None:
    compiled, eager = _both(None, ["train.epochs=8", *overrides])
    _assert_same_run(compiled, eager)
    assert compiled.status == "ok"
    assert compiled.compile["eager_reason"] is None and compiled.compile["replayed_steps"] >= 6


def test_a_step_hook_between_backward_and_update_keeps_the_step_eager() -> None:
    from tapegrad.train import Trainer, build_model
    from tapegrad.train.callbacks import TrainerCallback
    from tapegrad.train.data import make_dataset

    class Spy(TrainerCallback):
        seen = 0

        def before_update(self, trainer: Any) -> None:
            Spy.seen += 1

    config = load_config(None, ["train.epochs=4"])
    model = build_model([3, 32, 1], "relu", "normal")
    trainer = Trainer(model, make_dataset(config), config, callbacks=[Spy()])
    result = trainer.train()
    assert Spy.seen == 4 and result.compile["replayed_steps"] == 0
    assert "between backward and the update" in result.compile["eager_reason"]


@pytest.mark.parametrize("lr", ["100", "1e3"])
def test_a_diverging_run_stops_before_the_update_as_eager(lr: str) -> None:
    compiled, eager = _both(None, [f"train.lr={lr}", "train.epochs=50"])
    assert compiled.status == "diverged"
    _assert_same_run(compiled, eager)
    assert not math.isfinite(compiled.final_loss)
    for p in compiled.model.parameters():  # the step with a non-finite loss changed nothing
        assert np.isfinite(p._data).all()


def test_run_on_through_nonfinite_losses() -> None:
    overrides = ["train.lr=100", "train.epochs=12", "train.stop_on_nonfinite=false"]
    compiled, eager = _both(None, overrides)
    assert compiled.status == "ok"
    assert [str(v) for v in compiled.losses] == [str(v) for v in eager.losses]


def test_summary_says_how_many_steps_replayed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(load_config(None, ["train.epochs=20", f"output.dir={out}"]))
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    assert summary["compile"] == {"replayed_steps": 18, "eager_reason": None}
    assert result.compile == summary["compile"]


@pytest.mark.parametrize("first, then", [("true", "false"), ("false", "true")])
def test_resume_may_switch_compile_and_continues_exactly(
    tmp_path: Path, first: str, then: str
) -> None:
    from tapegrad.train import resume

    base = ["train.optimizer=adam", "train.batch_size=40", "train.lr=1e-2"]
    whole = run(load_config(None, [*base, "train.epochs=10"]))
    out = tmp_path / "run"
    run(load_config(None, [*base, "train.epochs=6", f"train.compile={first}", f"output.dir={out}"]))
    resumed = resume(out, ["train.epochs=10", f"train.compile={then}"])
    assert resumed.status == "ok"
    assert resumed.losses == whole.losses


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.scheduler={kind: step, step_size: 1, gamma: 0.99}"],
        ["train.scheduler={kind: exponential, gamma: 0.99}", "train.optimizer=adam"],
        ["train.batch_size=25", "train.scheduler={kind: onecycle, max_lr: 0.001}"],
    ],
    ids=["manual, full batch", "adam, full batch", "onecycle per batch"],
)
def test_a_rate_changed_by_the_schedule_is_read_by_the_replay(overrides: list[str]) -> None:
    compiled, eager = _both(None, ["train.epochs=12", *overrides])
    _assert_same_run(compiled, eager)
    steps = 12 * (4 if "train.batch_size=25" in overrides else 1)
    assert compiled.compile["replayed_steps"] >= steps - 3  # recorded once (or twice)


def test_a_step_that_reads_the_rate_itself_records_again_when_it_changes() -> None:
    import tapegrad as tg
    from tapegrad import nn, optim
    from tapegrad.replay import CompiledStep

    def make() -> tuple[Any, Any, Any]:
        tg.manual_seed(1)
        model = nn.Linear(3, 1)
        opt = optim.SGD(model.parameters(), lr=0.1)
        x, y = tg.randn(8, 3), tg.randn(8, 1)

        def step() -> Any:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            with tg.no_grad():  # decay by hand, at the group's rate: read by Python
                model.weight.mul_(1 - opt.param_groups[0]["lr"] * 0.5)
            return loss

        return step, model, opt

    eager, model_e, opt_e = make()
    step, model_c, opt_c = make()
    compiled = tg.compile(step)
    for i in range(8):
        for opt in (opt_e, opt_c):
            opt.param_groups[0]["lr"] = 0.1 / (i + 1)
        assert eager().item() == compiled().item()
    np.testing.assert_array_equal(model_e.weight._data, model_c.weight._data)
    assert compiled.replays == 0  # tapegrad.compile guards the rate: every call records
    assert isinstance(compiled, CompiledStep)
