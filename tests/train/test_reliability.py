"""Failures end cleanly with what was done kept: divergence, anomalies, exceptions, output
directories in the way, sizes that cannot fit; and each step's graph is freed."""

from __future__ import annotations

import csv
import gc
import importlib.util
import json
import math
import re
import weakref
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd.function import AccumulateGrad, Node
from tapegrad.train import Trainer, build_model, load_config, memory, run
from tapegrad.train import loop as loop_module
from tapegrad.train.config import ConfigError
from tapegrad.train.data import make_dataset

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "metrics.csv").open()))


# ----------------------------------------------------------------------------- divergence


def test_stop_on_nonfinite_false_runs_on(tmp_path):
    config = load_config(None, ["train.lr=100", "train.epochs=12", "train.stop_on_nonfinite=false"])
    result = run(config)
    assert result.status == "ok" and result.epochs_done == 12
    assert not math.isfinite(result.final_loss) and math.isfinite(result.losses[0])


def test_divergence_inside_an_epoch_keeps_the_finished_ones(tmp_path):
    out = tmp_path / "run"
    config = load_config(None, ["train.lr=3", "train.batch_size=10", f"output.dir={out}"])
    result = run(config)
    assert result.status == "diverged" and not math.isfinite(result.final_loss)
    assert f"at epoch {result.epochs_done} with train.lr = 3;" in result.message
    assert [float(r["loss"]) for r in rows(out)][:-1] == result.losses[:-1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["final_loss"] is None  # strict JSON


# ----------------------------------------------------------------------------- failures


def test_anomaly_in_backward_fails_the_run_naming_the_node(tmp_path):
    out = tmp_path / "run"
    config = load_config(
        None, ["train.lr=100", "train.stop_on_nonfinite=false", f"output.dir={out}"]
    )
    result = run(config, detect_anomaly=True)
    assert result.status == "failed" and isinstance(result.error, RuntimeError)
    first = result.message.splitlines()[0]
    assert re.fullmatch(
        rf"Function '\w+Backward\d' returned nan values in its \d+th output\. "
        rf"\(in epoch {result.epochs_done + 1}\)",
        first,
    )
    assert "Traceback of forward call that caused the error:" in result.message
    assert len(rows(out)) == result.epochs_done >= 1
    assert json.loads((out / "summary.json").read_text())["status"] == "failed"
    assert not tg.autograd.is_anomaly_enabled()  # the mode ends with the run


def test_without_anomaly_mode_the_same_run_goes_on():
    config = load_config(None, ["train.lr=100", "train.stop_on_nonfinite=false"])
    assert run(config).status == "ok"


def test_an_exception_mid_run_keeps_the_finished_epochs(tmp_path, monkeypatch):
    real_step, calls = Trainer._step, []

    def flaky(self, *args):
        calls.append(1)
        if len(calls) == 5:
            raise MemoryError("out of memory")
        return real_step(self, *args)

    monkeypatch.setattr(Trainer, "_step", flaky)
    out = tmp_path / "run"
    result = run(load_config(None, ["train.epochs=9", f"output.dir={out}"]))
    assert result.status == "failed" and result.message == "MemoryError: out of memory (in epoch 5)"
    assert len(rows(out)) == 4 and (out / "model.npz").exists()
    assert json.loads((out / "summary.json").read_text())["status"] == "failed"


# ----------------------------------------------------------------------------- output dirs


def test_non_empty_output_dir_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError) as info:
        run(load_config(None, ["train.epochs=2", f"output.dir={out}"]))
    assert str(info.value) == (
        f"command line: output.dir {out} is not empty (notes.txt); pass --overwrite to "
        f"replace its run files, or --resume {out} to continue the run in it"
    )
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_an_old_run_and_keeps_other_files(tmp_path):
    out = tmp_path / "run"
    run(load_config(None, ["train.epochs=5", "train.checkpoint_every=2", f"output.dir={out}"]))
    (out / "notes.txt").write_text("mine")
    result = run(load_config(None, ["train.epochs=2", f"output.dir={out}"]), overwrite=True)
    assert len(rows(out)) == 2 and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2 == result.epochs_done


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        run(load_config(None, [f"output.dir={path}"]), overwrite=True)


def test_bad_data_leave_no_output_dir(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="CSV file not found"):
        run(load_config(None, ["data.kind=csv", "data.path=nope.csv", f"output.dir={out}"]))
    assert not out.exists()


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    ("overrides", "shape"),
    [
        (["data.n=1000000000000"], "1000000000000 samples, layers 3 -> 32 -> 1, batch full"),
        (["model.hidden=[100000000]"], "100 samples, layers 3 -> 100000000 -> 1, batch full"),
        (["data.kind=spirals", "data.points_per_class=10000000000"], "30000000000 samples"),
        (["data.n=" + "9" * 400], "about 10^"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_before_allocating(overrides, shape, monkeypatch):
    monkeypatch.setattr(loop_module, "make_dataset", pytest.fail)  # never reached
    with pytest.raises(ConfigError) as info:
        run(load_config(None, overrides))
    message = str(info.value)
    assert message.startswith(f"command line: this run ({shape}")
    assert "needs an estimated" in message and "available; use less data" in message


def test_memory_estimate_and_limit():
    config = load_config(None, ["data.n=1000"])
    estimate = memory.estimate_config(config)
    assert estimate.data == 1000 * 4 * 4 * memory.DATA_COPIES
    assert estimate.activations == 1000 * (3 + 32 + 1) * 4 * memory.ACTIVATION_COPIES
    assert estimate.parameters == (4 * 32 + 33) * 4 * memory.PARAMETER_COPIES
    memory.check(estimate, config, available=10**9)
    with pytest.raises(ConfigError, match=r"more than 80% of the 1.0 kB available"):
        memory.check(estimate, config, available=1000)
    assert memory.human(1536) == "1.5 kB" and memory.human(999) == "999 B"
    assert memory.available_memory() is None or memory.available_memory() > 0


def test_csv_class_count_is_checked_after_reading(tmp_path, monkeypatch):
    data = tmp_path / "d.csv"
    data.write_text("x,label\n0.5,0\n0.1,2000000000\n")
    config = load_config(None, ["data.kind=csv", f"data.path={data}", "train.loss=cross_entropy"])
    monkeypatch.setattr(loop_module, "build_model", pytest.fail)
    with pytest.raises(ConfigError, match=r"layers 1 -> 32 -> 2000000001"):
        run(config)


# ----------------------------------------------------------------------------- the graph


def test_no_node_or_saved_array_of_a_step_survives_it():
    """Refcounting alone (gc off) frees every node and saved array once a step is over
    (eager steps: a replayed step makes no nodes)."""
    overrides = ["train.epochs=3", "train.batch_size=40", "train.optimizer=adam"]
    config = load_config(None, [*overrides, "train.compile=false"])
    tg.manual_seed(0)
    trainer = Trainer(build_model([3, 32, 1], "relu", "normal"), make_dataset(config), config)
    loss_fn, alive_during, saved = trainer.loss_fn, [], []

    def spy(y_pred, y):
        loss = loss_fn(y_pred, y)
        alive_during.append(len(graph_nodes()))
        stack = [loss.grad_fn]
        while stack:
            node = stack.pop()
            arrays = getattr(node, "saved", None) or ()
            saved.extend(weakref.ref(a) for a in arrays if a is not None)
            stack.extend(child for child, _ in node.next_functions if child is not None)
        return loss

    trainer.loss_fn = spy
    gc.collect()
    gc.disable()
    try:
        assert trainer.train().status == "ok"
        left = graph_nodes()
    finally:
        gc.enable()
    assert len(alive_during) == 9 and min(alive_during) > 5 and len(saved) > 10
    assert left == [] and [ref for ref in saved if ref() is not None] == []


def graph_nodes() -> list[Node]:
    """Every live graph node except the leaves' accumulators (which the parameters own)."""
    # type(), not isinstance(): some objects (torch's lazy modules) warn on __class__ access
    return [
        o for o in gc.get_objects() if issubclass(type(o), Node) and type(o) is not AccumulateGrad
    ]


def test_soak_script_memory_stays_flat(capsys):
    spec = importlib.util.spec_from_file_location("soak", SCRIPTS / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    assert soak.main(["--steps", "1500", "--every", "500", "--threshold-mb", "3"]) == 0
    out = capsys.readouterr().out
    assert "1500 steps (manual, batch full)" in out and "growth +" in out


def test_model_npz_matches_the_final_weights(tmp_path):
    out = tmp_path / "run"
    result = run(load_config(None, ["train.epochs=3", f"output.dir={out}"]))
    with np.load(out / "model.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(f["0.weight"], result.model[0].weight.detach().numpy())
