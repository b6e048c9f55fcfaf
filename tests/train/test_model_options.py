"""Model options (``model.activation``/``dropout``/``norm``) and update options
(``train.optimizer``, ``weight_decay``, ``clip_grad_norm``): built as asked, trained, saved,
resumed bit for bit, used in eval mode by validation, predict and evaluate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tapegrad import nn, optim
from tapegrad.cli.main import main
from tapegrad.train import load_config, resume, run
from tapegrad.train.checkpoint import read
from tapegrad.train.config import ConfigError
from tapegrad.train.loop import prepare
from tapegrad.train.predict import evaluate, load_trained
from tapegrad.train.val_metrics import evaluate_loss

SMALL = ["train.epochs=6", "train.batch_size=30", "model.hidden=[8, 8]", "train.lr=1e-3"]
VARIANTS = {
    "dropout": ["model.dropout=0.3", "train.optimizer=adam"],
    "batchnorm": ["model.norm=batch", "train.optimizer=sgd", "train.momentum=0.9"],
    "layernorm-gelu": ["model.norm=layer", "model.activation=gelu", "train.optimizer=adamw"],
    "all": [
        "model.norm=batch", "model.dropout=0.2", "model.activation=silu",
        "train.optimizer=rmsprop", "train.momentum=0.5", "train.weight_decay=0.01",
        "train.clip_grad_norm=1.0", "data.val_split=0.2",
    ],
    "adagrad-clip-manual": ["train.optimizer=adagrad", "train.clip_grad_norm=5"],
    "manual-clip": ["train.clip_grad_norm=5", "model.activation=leaky_relu"],
}  # fmt: skip


def weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / "model.npz", allow_pickle=False) as f:
        return dict(f)


class StopAfter:
    def __init__(self, steps: int) -> None:
        self.steps, self.calls = steps, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


@pytest.mark.parametrize(
    ("name", "module"),
    [("gelu", nn.GELU), ("silu", nn.SiLU), ("leaky_relu", nn.LeakyReLU), ("elu", nn.ELU),
     ("selu", nn.SELU), ("softplus", nn.Softplus), ("mish", nn.Mish), ("hardswish", nn.Hardswish)],
)  # fmt: skip
def test_activations_are_nn_modules(name, module):
    trainer = prepare(load_config(None, [f"model.activation={name}"]))
    assert isinstance(trainer.model[1], module)


def test_norm_and_dropout_sit_after_each_hidden_linear():
    trainer = prepare(load_config(None, ["model.hidden=[4, 5]", "model.norm=batch",
                                         "model.dropout=0.5"]))  # fmt: skip
    kinds = [type(m).__name__ for m in trainer.model]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert trainer.model[3].p == 0.5
    layer = prepare(load_config(None, ["model.hidden=[4]", "model.norm=layer"])).model
    assert [type(m).__name__ for m in layer] == ["Linear", "LayerNorm", "ReLU", "Linear"]


@pytest.mark.parametrize(
    ("overrides", "cls", "group"),
    [
        (["train.optimizer=adamw"], optim.AdamW, {"weight_decay": 0.01, "betas": (0.9, 0.999)}),
        (["train.optimizer=adamw", "train.weight_decay=0.1", "train.betas=[0.8, 0.9]"],
         optim.AdamW, {"weight_decay": 0.1, "betas": (0.8, 0.9)}),
        (["train.optimizer=rmsprop", "train.momentum=0.9"], optim.RMSprop, {"momentum": 0.9}),
        (["train.optimizer=adagrad", "train.weight_decay=0.5"], optim.Adagrad,
         {"weight_decay": 0.5}),
        (["train.optimizer=sgd", "train.weight_decay=0.5"], optim.SGD, {"weight_decay": 0.5}),
        (["train.optimizer=adam", "train.weight_decay=0.5"], optim.Adam, {"weight_decay": 0.5}),
    ],
)  # fmt: skip
def test_optimizers_get_their_options(overrides, cls, group):
    updater = prepare(load_config(None, overrides)).updater
    assert type(updater) is cls
    assert {k: updater.param_groups[0][k] for k in group} == group


def test_bad_model_options_are_explained():
    cases = {
        "model.dropout=1": "model.dropout must be a number in [0, 1), got 1",
        "model.norm=group": "model.norm must be one of none, batch, layer",
        "model.activation=gelU": "did you mean gelu?",
        "train.clip_grad_norm=0": "train.clip_grad_norm must be a number > 0 or null",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=_re(message)):
            load_config(None, [override])
    with pytest.raises(ConfigError, match="train.weight_decay applies only to train.optimizer"):
        load_config(None, ["train.weight_decay=0.1"])


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_clipping_bounds_the_update():
    # One manual step of lr 1 moves the parameters by exactly the clipped gradient.
    overrides = ["train.epochs=1", "train.lr=1", "train.clip_grad_norm=0.5", "model.init=torch"]
    trainer = prepare(load_config(None, overrides))
    before = [p.detach().numpy().copy() for p in trainer.model.parameters()]
    trainer.train()
    moved = [b - p.detach().numpy() for b, p in zip(before, trainer.model.parameters())]
    norm = np.sqrt(sum(float((m.astype(np.float64) ** 2).sum()) for m in moved))
    assert norm == pytest.approx(0.5, rel=1e-4)


def test_validation_uses_eval_mode_and_puts_train_mode_back():
    config = load_config(None, ["model.dropout=0.5", "data.val_split=0.2", "train.epochs=2"])
    trainer = prepare(config)
    trainer.train()
    assert trainer.model.training
    first = evaluate_loss(trainer.model, trainer.held_out, trainer.loss_fn)
    assert evaluate_loss(trainer.model, trainer.held_out, trainer.loss_fn) == first
    assert trainer.model.training


def test_batchnorm_running_stats_are_saved_and_used_by_predict(tmp_path):
    out = tmp_path / "run"
    overrides = [
        "model.norm=batch",
        "model.dropout=0.2",
        "train.optimizer=adam",
        "train.lr=1e-2",
        "data.val_split=0.2",
        f"output.dir={out}",
        "train.epochs=20",
    ]
    result = run(load_config(None, overrides))
    assert result.status == "ok"
    saved = weights(out)
    assert saved["1.num_batches_tracked"].dtype == np.int64
    assert int(saved["1.num_batches_tracked"]) == 20
    assert not np.allclose(saved["1.running_mean"], 0)
    trained = load_trained(out)
    assert not trained.model.training
    evaluation = evaluate(trained)
    assert evaluation.loss == pytest.approx(result.extra["val_loss"][-1], rel=1e-6)
    best = load_trained(out, best=True)
    assert "1.running_var" in best.model.state_dict()


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("steps", [0, 5, 13])
def test_resumed_run_equals_uninterrupted_bit_for_bit(tmp_path, name, steps):
    overrides = [*SMALL, *VARIANTS[name]]
    whole = run(load_config(None, [*overrides, f"output.dir={tmp_path / 'whole'}"]))
    assert whole.status == "ok"
    out = tmp_path / "stopped"
    stopped = run(
        load_config(None, [*overrides, f"output.dir={out}"]), should_stop=StopAfter(steps)
    )
    assert stopped.status == "interrupted"
    resumed = resume(out)
    assert resumed.losses == whole.losses
    assert resumed.extra == whole.extra
    for key, array in weights(tmp_path / "whole").items():
        np.testing.assert_array_equal(weights(out)[key], array)


def test_checkpoint_layout_is_still_checked(tmp_path):
    out = tmp_path / "run"
    overrides = [*SMALL, "model.norm=batch", "train.optimizer=rmsprop", f"output.dir={out}"]
    run(load_config(None, overrides), should_stop=StopAfter(3))
    config = load_config(out / "config.yaml")
    snapshot = read(out / "checkpoint.npz", config)
    assert "1.running_mean" in snapshot.model
    with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
        arrays = dict(f)
    arrays["model.1.running_mean"] = arrays["model.1.running_mean"][:3]
    np.savez(out / "checkpoint.npz", **arrays)
    with pytest.raises(ConfigError, match="'1.running_mean' has shape"):
        resume(out)


def test_cli_trains_with_model_options_and_prints_them(tmp_path):
    runner = CliRunner()
    args = ["train", "model.norm=layer", "model.activation=mish", "train.optimizer=adamw",
            "train.lr=1e-2", "train.epochs=30", "--json"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[-1])
    first = json.loads(result.output.splitlines()[0])
    assert summary["final_loss"] < first["loss"]
    shown = runner.invoke(main, ["train", "--print-config", "train.optimizer=adamw"])
    for key in ("dropout", "norm", "weight_decay", "clip_grad_norm"):
        assert key in shown.output


def test_metrics_csv_has_no_lr_column_without_a_schedule(tmp_path):
    out = tmp_path / "run"
    run(load_config(None, ["train.epochs=2", f"output.dir={out}"]))
    header = next(csv.reader((out / "metrics.csv").open()))
    assert "lr" not in header


def test_header_line_names_the_options():
    runner = CliRunner()
    args = ["train", "model.norm=batch", "model.dropout=0.1", "train.optimizer=adamw",
            "train.weight_decay=0.05", "train.clip_grad_norm=1", "train.scheduler=cosine",
            "train.epochs=2"]  # fmt: skip
    first = runner.invoke(main, args).output.splitlines()[0]
    assert "relu + batch norm, dropout 0.1 (" in first
    assert "adamw lr 0.0001 (cosine schedule, weight decay 0.05, clip 1), batch full" in first
