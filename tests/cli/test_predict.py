"""``tapegrad predict`` and ``tapegrad evaluate``: through CliRunner, plus real runs of the
installed command; the numbers are checked against the model computed by hand."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tapegrad as tg
from tapegrad.cli.main import main
from tapegrad.train import load_config, run
from tapegrad.train.heldout import DataInfo
from tapegrad.train.predict import evaluate, load_trained, predict, r2_score


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def write_csv(path: Path, header: list[str] | None, rows: np.ndarray) -> Path:
    lines = [",".join(header)] if header else []
    lines += [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def forward(run_dir: Path, x: np.ndarray, name: str = "model.npz") -> np.ndarray:
    """The saved model applied by hand: scaling, then Linear/activation layers in numpy."""
    info = DataInfo.read(run_dir)
    x = x.astype(np.float32)  # as the CSV is read for training
    if info.scaling.mean is not None:
        x = ((x.astype(np.float64) - info.scaling.mean) / info.scaling.std).astype(np.float32)
    with np.load(run_dir / name, allow_pickle=False) as f:
        arrays = dict(f)
    layers = len(arrays) // 2
    config = load_config(run_dir / "config.yaml")
    activation = {"relu": lambda a: np.maximum(a, 0), "tanh": np.tanh}[config["model.activation"]]
    h = x.astype(np.float32)
    for i in range(layers):
        h = h @ arrays[f"{2 * i}.weight"].T + arrays[f"{2 * i}.bias"]
        if i < layers - 1:
            h = activation(h)
    return h


def read_output(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array(rows[1:], dtype=np.float64)


def targets(x: np.ndarray) -> np.ndarray:
    return np.stack([x[:, 0] + (x[:, 1] - 500) / 100, (x[:, 2] - 3) * 100], axis=1)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory) -> Path:
    """A CSV regression with two targets, validation split, scaling and early stopping."""
    base = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)) * [1, 100, 0.01] + [0, 500, 3]
    y = targets(x)
    table = np.column_stack([x[:, 0], y[:, 0], x[:, 1], x[:, 2], y[:, 1]])
    write_csv(base / "train.csv", ["a", "u", "b", "c", "v"], table)
    out = base / "run"
    config = load_config(
        None,
        [
            "data.kind=csv", f"data.path={base / 'train.csv'}", "data.target=[u, v]",
            "data.val_split=0.25", "data.normalize=standard", "train.loss=mse",
            "train.optimizer=adam", "train.lr=0.01", "train.epochs=80", "model.init=torch",
            "train.early_stopping=10", "model.hidden=[16]", f"output.dir={out}",
        ],
    )  # fmt: skip
    run(config)
    return out


@pytest.fixture(scope="module")
def spirals_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spirals") / "run"
    config = load_config(
        None,
        [
            "data.kind=spirals", "data.points_per_class=30", "data.val_split=0.2",
            "train.optimizer=adam", "train.lr=0.02", "train.epochs=40", "model.init=torch",
            f"output.dir={out}",
        ],
    )  # fmt: skip
    run(config)
    return out


# ----------------------------------------------------------------------------- predict


def test_predict_regression_writes_the_target_columns(csv_run, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 3)) * [1, 100, 0.01] + [0, 500, 3]
    data = write_csv(tmp_path / "new.csv", ["a", "b", "c"], x)
    result = invoke("predict", str(csv_run), str(data))
    assert result.exit_code == 0, result.output
    header, values = read_output(result.stdout)
    assert header == ["u", "v"]
    np.testing.assert_allclose(values, forward(csv_run, x), rtol=1e-6, atol=1e-6)


def test_predict_takes_columns_by_name_and_ignores_the_targets(csv_run, tmp_path):
    x = np.array([[0.5, 480.0, 3.01], [-1.0, 520.0, 2.99]])
    plain = write_csv(tmp_path / "plain.csv", ["a", "b", "c"], x)
    shuffled = write_csv(
        tmp_path / "shuffled.csv", ["v", "c", "u", "a", "b"],
        np.column_stack([[9, 9], x[:, 2], [9, 9], x[:, 0], x[:, 1]]),
    )  # fmt: skip
    assert invoke("predict", str(csv_run), str(plain)).stdout == (
        invoke("predict", str(csv_run), str(shuffled)).stdout
    )


def test_predict_best_uses_best_npz(csv_run, tmp_path):
    x = np.array([[0.5, 480.0, 3.01]])
    data = write_csv(tmp_path / "new.csv", ["a", "b", "c"], x)
    out = tmp_path / "pred.csv"
    result = invoke("predict", str(csv_run), str(data), "--best", "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"wrote 1 predictions to {out}\n"
    _, values = read_output(out.read_text())
    np.testing.assert_allclose(values, forward(csv_run, x, "best.npz"), rtol=1e-6, atol=1e-6)


def test_predict_classification_writes_class_and_probabilities(spirals_run, tmp_path):
    x = np.array([[0.1, 0.2], [-0.5, 0.3], [0.7, -0.7]])
    data = write_csv(tmp_path / "new.csv", None, x)
    result = invoke("predict", str(spirals_run), str(data))
    assert result.exit_code == 0, result.output
    header, values = read_output(result.stdout)
    assert header == ["class", "prob_0", "prob_1", "prob_2"]
    logits = forward(spirals_run, x).astype(np.float64)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(values[:, 1:], probabilities, rtol=1e-6)
    np.testing.assert_array_equal(values[:, 0], logits.argmax(axis=1))
    named = write_csv(tmp_path / "named.csv", ["x1", "x2"], x)
    assert invoke("predict", str(spirals_run), str(named)).stdout == result.stdout


def test_predict_leaves_the_global_generator_alone(spirals_run, tmp_path):
    data = write_csv(tmp_path / "new.csv", None, np.array([[0.1, 0.2]]))
    tg.manual_seed(3)
    expected = tg.default_generator().bit_generator.state
    predict(load_trained(spirals_run), data)
    assert tg.default_generator().bit_generator.state == expected


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_on_the_validation_data_matches_the_runs_last_val_loss(csv_run):
    summary = json.loads((csv_run / "summary.json").read_text())
    result = invoke("evaluate", str(csv_run), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["data"] == "validation data" and record["samples"] == 15
    assert record["loss"] == summary["final_val_loss"] and record["loss_name"] == "mse"
    assert 0.5 < record["r2"] <= 1  # a linear relation: the model fits it well
    best = json.loads(invoke("evaluate", str(csv_run), "--json", "--best").stdout)
    assert best["loss"] == summary["best_model"]["value"]


def test_evaluate_text_and_accuracy(spirals_run):
    summary = json.loads((spirals_run / "summary.json").read_text())
    result = invoke("evaluate", str(spirals_run))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "data      validation data" and lines[1] == "samples   18"
    assert lines[2].startswith("loss      ") and lines[2].endswith("(cross_entropy)")
    assert lines[3] == f"accuracy  {summary['final_val_accuracy']:.4f}"


def test_evaluate_a_csv_with_targets(csv_run, tmp_path):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(20, 3)) * [1, 100, 0.01] + [0, 500, 3]
    y = targets(x)
    data = write_csv(tmp_path / "d.csv", ["a", "b", "c", "u", "v"], np.column_stack([x, y]))
    trained = load_trained(csv_run)
    evaluation = evaluate(trained, data)
    y_pred = forward(csv_run, x).astype(np.float64)
    assert evaluation.samples == 20 and evaluation.data == str(data)
    assert evaluation.loss == pytest.approx(((y_pred - y.astype(np.float32)) ** 2).mean(), rel=1e-5)
    assert evaluation.r2 == pytest.approx(r2_score(y.astype(np.float32), y_pred), rel=1e-5)
    no_targets = write_csv(tmp_path / "x.csv", ["a", "b", "c"], x)
    refused = invoke("evaluate", str(csv_run), str(no_targets))
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: {no_targets}: evaluating needs the target column(s) u, v; the file has a, b, c\n"
    )


def test_r2_score_as_scikit_learn():
    y = np.array([[3.0, 1.0], [-0.5, 1.0], [2.0, 1.0], [7.0, 1.0]])
    y_pred = np.array([[2.5, 1.0], [0.0, 1.0], [2.0, 1.0], [8.0, 1.0]])
    assert r2_score(y[:, :1], y_pred[:, :1]) == pytest.approx(0.9486081370449679)
    assert r2_score(y, y_pred) == pytest.approx((0.9486081370449679 + 1.0) / 2)


def test_evaluate_without_validation_data_is_a_usage_error(tmp_path):
    out = tmp_path / "plain"
    run(load_config(None, ["train.epochs=2", f"output.dir={out}"]))
    result = invoke("evaluate", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {out}: the run has no validation data (data.val_split or data.val_path); "
        "give a DATA.csv to evaluate on\n"
    )


# ----------------------------------------------------------------------------- errors


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ")
    return result.stderr


def test_errors_are_one_line_and_exit_2(csv_run, tmp_path):
    good = write_csv(tmp_path / "good.csv", ["a", "b", "c"], np.zeros((1, 3)))
    assert "no such run directory" in one_error(invoke("predict", str(tmp_path / "x"), str(good)))
    assert "not a run directory" in one_error(invoke("evaluate", str(tmp_path), str(good)))
    assert "no such file" in one_error(invoke("predict", str(csv_run), str(tmp_path / "no.csv")))
    wrong = write_csv(tmp_path / "wrong.csv", ["a", "b", "d"], np.zeros((1, 3)))
    message = one_error(invoke("predict", str(csv_run), str(wrong)))
    assert "unknown column 'd'; the model reads a, b, c (and the targets u, v may be given)" in (
        message
    )
    missing = write_csv(tmp_path / "missing.csv", ["a", "b"], np.zeros((1, 2)))
    assert "no column 'c'" in one_error(invoke("predict", str(csv_run), str(missing)))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,x\n")
    assert "line 2: column 'c' must be a number" in one_error(
        invoke("predict", str(csv_run), str(bad))
    )
    assert "is a directory" in one_error(invoke("predict", str(csv_run), str(tmp_path)))


def test_a_run_without_a_model_or_best(tmp_path):
    out = tmp_path / "r"
    run(load_config(None, ["train.epochs=2", f"output.dir={out}"]))
    data = write_csv(tmp_path / "d.csv", None, np.zeros((2, 3)))
    assert "no such file; the run has not saved a best model" in one_error(
        invoke("predict", str(out), str(data), "--best")
    )
    (out / "model.npz").unlink()
    assert "the run has not saved its model yet" in one_error(
        invoke("predict", str(out), str(data))
    )


def test_positional_columns_without_a_header(tmp_path):
    out = tmp_path / "r"
    run(load_config(None, ["train.epochs=2", f"output.dir={out}"]))
    x = np.array([[0.1, 0.2, 0.3]])
    features = invoke("predict", str(out), str(write_csv(tmp_path / "a.csv", None, x)))
    with_target = write_csv(tmp_path / "b.csv", None, np.array([[0.1, 0.2, 0.3, 5.0]]))
    assert invoke("predict", str(out), str(with_target)).stdout == features.stdout
    two = write_csv(tmp_path / "c.csv", None, np.zeros((1, 2)))
    assert "expected 3 columns (the inputs) or 4 (with the targets), got 2" in one_error(
        invoke("predict", str(out), str(two))
    )


def test_the_model_is_the_one_trained(tmp_path):
    out = tmp_path / "r"
    result = run(load_config(None, ["train.epochs=5", f"output.dir={out}"]))
    trained = load_trained(out)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        trained.model(tg.from_numpy(x)).detach().numpy(),
        result.model(tg.from_numpy(x)).detach().numpy(),
    )


# ----------------------------------------------------------------------------- real runs


def test_the_installed_command_predicts_and_evaluates(spirals_run, tmp_path):
    data = write_csv(tmp_path / "new.csv", ["x1", "x2"], np.array([[0.1, 0.2], [0.3, -0.4]]))
    out = tmp_path / "pred.csv"
    command = [sys.executable, "-m", "tapegrad"]
    proc = subprocess.run(
        [*command, "predict", str(spirals_run), str(data), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header, values = read_output(out.read_text())
    assert header == ["class", "prob_0", "prob_1", "prob_2"] and values.shape == (2, 4)
    np.testing.assert_allclose(values[:, 1:].sum(axis=1), 1, rtol=1e-6)
    proc = subprocess.run(
        [*command, "evaluate", str(spirals_run), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["samples"] == 18
    proc = subprocess.run(
        [*command, "predict", str(tmp_path / "none"), str(data)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (
        proc.returncode == 2
        and proc.stderr == f"error: {tmp_path / 'none'}: no such run directory\n"
    )
