"""The training loop: the blog's numbers, PyTorch's trajectory, reproducibility, failures."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.train import EpochEnded, RunStarted, build_model, default_config, fit, run
from tapegrad.train.config import load_config
from tapegrad.train.data import Dataset
from tapegrad.train.loop import batches


def blog_script_losses() -> list[float]:
    """The blog post's code, line for line, in tapegrad."""
    tg.manual_seed(0)
    x = tg.randn(100, 3)
    y = x.mm(tg.tensor([0.2, -1.3, -0.5]).reshape(-1, 1)) + 1.0 * tg.randn(100, 1)
    w1 = tg.randn(3, 32, requires_grad=True)
    w2 = tg.randn(32, 1, requires_grad=True)
    b1 = tg.zeros(1, 32, requires_grad=True)
    b2 = tg.zeros(1, 1, requires_grad=True)
    losses = []
    for _ in range(200):
        y_pred = x.mm(w1).add(b1).clamp(min=0).mm(w2).add(b2)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with tg.no_grad():
            for p in (w1, w2, b1, b2):
                p.sub_(1e-4 * p.grad)
            for p in (w1, w2, b1, b2):
                p.grad.zero_()
    return losses


def test_default_run_is_the_blog_script_exactly():
    assert run(default_config()).losses == blog_script_losses()


def test_events_follow_the_blogs_logging():
    events = []
    result = run(default_config(), events.append)
    assert isinstance(events[0], RunStarted)
    assert events[0].layer_sizes == [3, 32, 1] and events[0].parameters == 161
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == list(range(1, 201))
    assert [e.epoch for e in epochs if e.log] == list(range(10, 201, 10))
    assert [e.loss for e in epochs] == result.losses
    assert result.status == "ok" and result.final_loss < result.losses[0] / 50


def test_manual_loop_follows_pytorch_trajectory():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((100, 3)).astype(np.float32)
    true_w = np.array([[0.2], [-1.3], [-0.5]], np.float32)
    y = (x @ true_w + rng.standard_normal((100, 1))).astype(np.float32)
    w1 = rng.standard_normal((3, 32)).astype(np.float32)
    w2 = rng.standard_normal((32, 1)).astype(np.float32)

    model = build_model([3, 32, 1], "relu", "normal")
    model.load_state_dict(
        {"0.weight": w1.T, "0.bias": np.zeros(32, np.float32), "2.weight": w2.T,
         "2.bias": np.zeros(1, np.float32)}
    )  # fmt: skip
    ours = fit(model, Dataset(x, y), default_config()).losses

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    params = [torch.from_numpy(a.copy()).requires_grad_() for a in (w1, w2)]
    params += [torch.zeros(1, 32, requires_grad=True), torch.zeros(1, 1, requires_grad=True)]
    tw1, tw2, tb1, tb2 = params
    theirs = []
    for _ in range(200):
        loss = (tx.mm(tw1).add(tb1).clamp(min=0).mm(tw2).add(tb2) - ty).pow(2).sum()
        theirs.append(loss.item())
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(1e-4 * p.grad)
                p.grad.zero_()

    rel = np.abs(np.array(ours) - theirs) / np.abs(theirs)
    assert len(ours) == 200 and rel.max() < 1e-4


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["train.optimizer=adam", "train.lr=1e-2", "train.batch_size=16", "train.loss=mse"],
        ["data.kind=spirals", "data.points_per_class=20", "train.optimizer=sgd", "train.lr=0.1"],
    ],
)
def test_same_config_same_losses(overrides):
    config = load_config(None, ["train.epochs=15", *overrides])
    assert run(config).losses == run(config).losses


def test_another_seed_other_losses():
    config = load_config(None, ["train.epochs=3"])
    assert run(config).losses != run(load_config(None, ["train.epochs=3", "seed=1"])).losses


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.optimizer=sgd", "train.lr=1e-4", "train.momentum=0.9"],
        ["train.optimizer=adam", "train.lr=1e-2", "model.activation=tanh", "model.init=torch"],
        ["train.loss=mse", "train.lr=1e-2", "model.hidden=[16, 8]", "model.activation=sigmoid"],
        ["train.batch_size=32", "train.lr=1e-3"],
        ["model.hidden=[]", "train.lr=1e-3"],
    ],
)
def test_variants_learn(overrides):
    result = run(load_config(None, ["train.epochs=40", *overrides]))
    assert result.status == "ok" and result.final_loss < result.losses[0]


def test_spirals_report_accuracy():
    config = load_config(
        None,
        ["data.kind=spirals", "data.points_per_class=30", "train.optimizer=adam",
         "train.lr=0.02", "train.epochs=60", "model.init=torch"],
    )  # fmt: skip
    events = []
    result = run(config, events.append)
    assert all(e.accuracy is not None for e in events if isinstance(e, EpochEnded))
    assert result.accuracies[-1] > 0.6


def test_minibatches_cover_every_sample_once():
    data = Dataset(np.arange(10, dtype=np.float32).reshape(10, 1), np.zeros((10, 1), np.float32))
    parts = list(batches(data, 4))
    assert [size for _, _, size in parts] == [4, 4, 2]
    seen = np.concatenate([x.numpy().ravel() for x, _, _ in parts])
    assert sorted(seen.tolist()) == list(range(10))


def test_divergence_stops_with_epoch_loss_and_lr(tmp_path):
    config = load_config(None, ["train.lr=100", f"output.dir={tmp_path}"])
    result = run(config)
    assert result.status == "diverged" and not math.isfinite(result.final_loss)
    assert result.epochs_done < 200
    assert f"at epoch {result.epochs_done} with train.lr = 100" in result.message
    assert "smaller learning rate, e.g. train.lr=10" in result.message
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert len(rows) == result.epochs_done
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_interrupt_keeps_what_was_done(tmp_path):
    def stop_at_five(event):
        if isinstance(event, EpochEnded) and event.epoch == 5:
            raise KeyboardInterrupt

    result = run(load_config(None, [f"output.dir={tmp_path}"]), stop_at_five)
    assert result.status == "interrupted" and result.epochs_done == 5
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 5
    assert (tmp_path / "model.npz").exists()


def test_output_files(tmp_path):
    out = tmp_path / "run"
    config = load_config(None, ["train.epochs=20", f"output.dir={out}"])
    result = run(config)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.npz", "config.yaml", "data.json", "metrics.csv", "model.npz", "summary.json"
    ]  # fmt: skip
    assert load_config(out / "config.yaml").values == config.values
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 21))
    assert [float(r["loss"]) for r in rows] == result.losses
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_loss"] == result.final_loss and summary["epochs"] == 20
    with np.load(out / "model.npz", allow_pickle=False) as weights:
        arrays = dict(weights)
    assert {k: v.shape for k, v in arrays.items()} == {
        "0.weight": (32, 3), "0.bias": (32,), "2.weight": (1, 32), "2.bias": (1,)
    }  # fmt: skip
    fresh = build_model([3, 32, 1], "relu", "torch")
    fresh.load_state_dict(arrays)
    np.testing.assert_array_equal(fresh[0].weight.detach().numpy(), arrays["0.weight"])
    np.testing.assert_array_equal(result.model[0].weight.detach().numpy(), arrays["0.weight"])


def test_checkpoint_loads_into_torch(tmp_path):
    torch = pytest.importorskip("torch")
    run(load_config(None, ["train.epochs=5", f"output.dir={tmp_path}"]))
    with np.load(tmp_path / "model.npz", allow_pickle=False) as weights:
        state = {k: torch.from_numpy(v) for k, v in weights.items()}
    model = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    model.load_state_dict(state)
