"""``tapegrad gradcheck``: the registry run, op selection, JSON, tolerances, exit codes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

import tapegrad as tg
from tapegrad.autograd import Function
from tapegrad.cli import inspect_cmd
from tapegrad.cli.main import main
from tapegrad.testing import opinfo
from tapegrad.testing.opinfo import OpInfo, Sample


def run(*args: str):
    return CliRunner().invoke(main, ["gradcheck", *args])


class WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x**2  # deliberately wrong: d(x^3)/dx is 3x^2


def _vector(rng: np.random.Generator) -> list[Sample]:
    return [Sample((rng.uniform(0.5, 1.5, 3),), "vector")]


def _raises(ns, a):
    raise RuntimeError("kaboom")


BROKEN = OpInfo(
    "wrong_cube", "WrongCubeBackward", lambda ns, a: WrongCube.apply(a), np.cbrt, _vector
)
CRASHING = OpInfo("crashing", "X", _raises, np.cbrt, _vector)


@pytest.fixture
def broken_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test-only registry: one good op, one with a wrong gradient, one that raises."""
    monkeypatch.setattr(opinfo, "OPS", [opinfo.get_op("mul"), BROKEN, CRASHING])


def test_full_registry_passes_quickly_with_a_row_per_op():
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["op", "samples", "max", "abs", "err", "max", "rel", "err", "result"]
    rows = {line.split()[0]: line.split() for line in lines[1 : 1 + len(opinfo.OPS)]}
    assert list(rows) == [op.name for op in opinfo.OPS]
    assert all(row[-1] == "ok" for row in rows.values())
    samples = sum(len(op.samples(np.random.default_rng(0))) for op in opinfo.OPS)
    assert sum(int(row[1]) for row in rows.values()) == samples
    assert lines[-1].startswith(f"gradcheck passed: {len(opinfo.OPS)} ops, {samples} samples")
    assert elapsed < 10


def test_op_selects_rows_and_ignores_repeats():
    result = run("--op", "mm", "--op", "add", "--op", "mm")
    assert result.exit_code == 0, result.output
    rows = [line.split()[0] for line in result.stdout.splitlines()[1:-1]]
    assert rows == ["mm", "add"]
    assert "2 ops" in result.stdout.splitlines()[-1]


def test_unknown_op_is_a_usage_error_with_suggestions():
    result = run("--op", "matmul_2")
    assert result.exit_code == 2
    assert "unknown op 'matmul_2'; did you mean 'matmul_2d'" in result.stderr
    assert result.stdout == ""


def test_unknown_op_far_from_everything_lists_the_ops():
    result = run("--op", "qqqqqq")
    assert result.exit_code == 2
    assert "known ops: add, sub" in result.stderr


def test_json_is_one_object_per_op():
    result = run("--json", "--op", "add", "--op", "log_softmax")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] for r in records] == ["add", "log_softmax"]
    for r in records:
        assert {"name", "samples", "max_abs_err", "max_rel_err", "ok"} <= set(r)
        assert r["ok"] is True and r["samples"] > 0 and r["max_abs_err"] < 1e-6
    assert "gradcheck passed: 2 ops" in result.stderr


def test_same_seed_same_numbers_other_seed_other_samples():
    first = run("--json", "--op", "tanh", "--seed", "3").stdout
    assert first == run("--json", "--op", "tanh", "--seed", "3").stdout
    assert first != run("--json", "--op", "tanh", "--seed", "4").stdout


def test_tolerances_reach_the_check():
    # a coarse step makes the curved ops disagree beyond zero tolerance
    result = run("--op", "exp", "--op", "add", "--eps", "0.1", "--atol", "1e-6", "--rtol", "0")
    assert result.exit_code == 1
    assert "FAILED exp [" in result.stdout and "FAILED add" not in result.stdout
    lenient = run("--op", "exp", "--eps", "0.1", "--atol", "1", "--rtol", "1")
    assert lenient.exit_code == 0, lenient.output


@pytest.mark.parametrize("option", ["--eps=0", "--eps=-1", "--atol=-1", "--rtol=x", "--seed=a"])
def test_bad_numbers_are_usage_errors(option: str):
    assert run(option).exit_code == 2


@pytest.mark.parametrize("option", ["--eps=nan", "--eps=inf", "--atol=nan", "--rtol=inf"])
def test_non_finite_steps_and_tolerances_are_usage_errors(option: str):
    result = run(option)
    assert result.exit_code == 2
    assert "is not a finite number" in result.stderr


def test_a_broken_gradient_exits_1_with_the_worst_values(broken_registry: None):
    result = run()
    assert result.exit_code == 1
    out = result.stdout
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:4]}
    assert rows == {"mul": "ok", "wrong_cube": "FAIL", "crashing": "FAIL"}
    assert "FAILED wrong_cube [vector]: Jacobian mismatch" in out
    assert "worst element: numerical" in out and "analytical" in out
    assert "FAILED crashing [vector]: RuntimeError: kaboom" in out
    summary = out.splitlines()[-1]
    assert summary.startswith("gradcheck FAILED for 2 of 3 ops, 8 samples")
    assert summary.endswith(": wrong_cube, crashing")


def test_broken_gradient_in_json(broken_registry: None):
    result = run("--json", "--op", "wrong_cube")
    assert result.exit_code == 1
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["ok"] is False
    (failure,) = record["failures"]
    # analytical 2x^2 against numerical 3x^2 at the worst element
    assert failure["analytical"] == pytest.approx(failure["numerical"] * 2 / 3, rel=1e-6)


def test_registry_ops_run_in_float64(monkeypatch: pytest.MonkeyPatch):
    seen = []

    def spy(ns, a):
        seen.append(a.dtype)
        return a * 2

    monkeypatch.setattr(opinfo, "OPS", [OpInfo("spy", "MulBackward0", spy, np.cbrt, _vector)])
    assert run().exit_code == 0
    assert set(seen) == {tg.float64}


def test_terminal_output_is_a_rich_table(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(inspect_cmd, "is_terminal", lambda: True)
    result = run("--op", "add", "--op", "mul")
    assert result.exit_code == 0, result.output
    assert "┃" in result.stdout or "│" in result.stdout
    assert "gradcheck passed: 2 ops" in result.stdout


def test_terminal_output_lists_failures(monkeypatch: pytest.MonkeyPatch, broken_registry: None):
    monkeypatch.setattr(inspect_cmd, "is_terminal", lambda: True)
    result = run()
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "worst element: numerical" in result.stdout


def test_missing_config_file_is_a_usage_error():
    result = run("does-not-exist.yaml")
    assert result.exit_code == 2
    assert "does-not-exist.yaml" in result.stderr


# ----------------------------------------------------------------------------- CONFIG

SMALL_CONFIG = """\
seed: 3
data: {kind: linear, n: 12, d_in: 2, weights: [0.5, -1.0], noise: 0.1}
model: {hidden: [4], activation: tanh}
train: {epochs: 1, lr: 1e-3, loss: sse}
"""


@pytest.fixture
def small_config(tmp_path) -> str:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_CONFIG)
    return str(path)


def test_config_checks_every_parameter(small_config: str):
    result = run(small_config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "parameter"
    assert [line.split()[0] for line in lines[1:-1]] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert lines[-1].startswith("gradcheck passed: 4 parameters")


def test_config_json_and_parameter_selection(small_config: str):
    result = run(small_config, "--json", "--op", "2.bias")
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["name"] == "2.bias" and record["ok"] is True


def test_config_unknown_parameter_suggests(small_config: str):
    result = run(small_config, "--op", "0.weigth")
    assert result.exit_code == 2
    assert "unknown parameter '0.weigth'; did you mean '0.weight'" in result.stderr


def test_config_runs_in_float64(small_config: str, monkeypatch: pytest.MonkeyPatch):
    from tapegrad.train import loop

    seen = []

    def spy(y_pred, y):
        seen.append((y_pred.dtype, y.dtype))
        return ((y_pred - y) ** 2).sum()

    monkeypatch.setitem(loop.LOSSES, "sse", spy)
    assert run(small_config, "--op", "2.bias").exit_code == 0
    assert set(seen) == {(tg.float64, tg.float64)}


def test_config_with_a_broken_gradient_exits_1(small_config: str, monkeypatch: pytest.MonkeyPatch):
    from tapegrad.train import loop

    monkeypatch.setitem(loop.LOSSES, "sse", lambda y_pred, y: WrongCube.apply(y_pred - y).sum())
    result = run(small_config)
    assert result.exit_code == 1
    assert "FAILED 0.weight [loss]: Jacobian mismatch" in result.stdout
    assert "worst element: numerical" in result.stdout


def test_config_errors_exit_2_with_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {lr: fast}\n")
    result = run(str(path))
    assert result.exit_code == 2
    assert "train.lr" in result.stderr and "bad.yaml" in result.stderr


class NanBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * float("nan")


def test_nan_gradients_fail_and_json_stays_strict(monkeypatch: pytest.MonkeyPatch):
    nan_op = OpInfo("nan_grad", "X", lambda ns, a: NanBackward.apply(a), np.cbrt, _vector)
    monkeypatch.setattr(opinfo, "OPS", [nan_op])
    result = run("--json")
    assert result.exit_code == 1

    def reject(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    (record,) = [json.loads(line, parse_constant=reject) for line in result.stdout.splitlines()]
    assert record["ok"] is False


def test_ctrl_c_keeps_what_was_checked(monkeypatch: pytest.MonkeyPatch):
    real = inspect_cmd.check_op

    def interrupt_on_mul(op, tol, second_order=False):
        if op.name == "mul":
            raise KeyboardInterrupt
        return real(op, tol, second_order)

    monkeypatch.setattr(inspect_cmd, "check_op", interrupt_on_mul)
    result = run("--op", "add", "--op", "mul", "--op", "sub")
    assert result.exit_code == 130
    assert [line.split()[0] for line in result.stdout.splitlines()[1:-1]] == ["add"]
    assert "interrupted after 1 of 3" in result.stderr


class FirstOrderOnlySquare(Function):
    """Right first derivative, but its backward uses a detached input: second order is wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x.detach()


def test_second_order_passes_for_registry_ops():
    result = run("--second-order", "--op", "mul", "--op", "tanh", "--op", "log_softmax")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[1:-1]] == [
        "mul",
        "tanh",
        "log_softmax",
    ]


def test_second_order_catches_a_backward_that_is_not_differentiable(monkeypatch):
    square = OpInfo("square_fn", "X", lambda ns, a: FirstOrderOnlySquare.apply(a), np.cbrt, _vector)
    monkeypatch.setattr(opinfo, "OPS", [square])
    assert run("--op", "square_fn").exit_code == 0
    result = run("--second-order", "--op", "square_fn")
    assert result.exit_code == 1
    assert "square_fn" in result.output


def test_second_order_with_a_config_is_a_usage_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("seed: 0\n")
    result = run("--second-order", str(config))
    assert result.exit_code == 2
    assert "--second-order" in result.output
