"""Floating-point edge cases compute inf and nan silently, as in torch; numpy warns for each."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import tapegrad as tg

CASES = {
    "log(0)": lambda lib, x: lib.log(x),
    "x / 0": lambda lib, x: x / 0,
    "1 / x": lambda lib, x: 1 / x,
    "exp overflow": lambda lib, x: lib.exp(x * 1000),
    "sqrt(-1)": lambda lib, x: x.sqrt(),
    "x ** -1": lambda lib, x: x**-1,
    "mul overflow": lambda lib, x: lib.full((2,), 3e38) * 10,
    "sum overflow": lambda lib, x: lib.full((4,), 3e38).sum(),
    "sum(dim) overflow": lambda lib, x: lib.full((4, 2), 3e38).sum(0),
    "mean overflow": lambda lib, x: lib.full((4, 2), 3e38).mean(),
    "mean(dim) of nothing": lambda lib, x: lib.zeros(0, 2).mean(0),
    "softmax of inf": lambda lib, x: lib.softmax(lib.tensor([1.0, float("inf")]), 0),
    "float // 0": lambda lib, x: x.detach() // 0,
    "float % 0": lambda lib, x: x.detach() % 0,
    "backward of log(0)": lambda lib, x: lib.log(x).sum().backward(),
}


def _run(lib, case):
    x = lib.tensor([0.0, 1.0, -1.0], requires_grad=True)
    out = CASES[case](lib, x)
    return None if out is None else out.detach().numpy().tolist()


@pytest.mark.parametrize("case", CASES)
def test_values_match_torch(case):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():  # silence is checked below, in a fresh process
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = _run(tg, case)
    np.testing.assert_array_equal(ours, _run(torch, case))  # NaN equals NaN here


INT_DIVISIONS = {
    "a // b": lambda a, b: a // b,
    "a % b": lambda a, b: a % b,
    "a // 0": lambda a, b: a // 0,
    "a % 0": lambda a, b: a % 0,
    "3 // b": lambda a, b: 3 // b,
    "3 % b": lambda a, b: 3 % b,
    "div floor": lambda a, b: a.div(b, rounding_mode="floor"),
    "div trunc": lambda a, b: a.div(b, rounding_mode="trunc"),
}


@pytest.mark.parametrize("form", INT_DIVISIONS)
def test_integer_division_by_zero_raises_as_torch(form):
    with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
        INT_DIVISIONS[form](tg.tensor([1, 2]), tg.tensor([0, 1]))
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
        INT_DIVISIONS[form](torch.tensor([1, 2]), torch.tensor([0, 1]))


# Run in a fresh process: tapegrad's warning filter is installed when it is imported, and
# pytest imports test modules inside a warnings context that discards it afterwards.
_SILENT = """
import runpy, sys, numpy as np, tapegrad as tg
run = runpy.run_path(sys.argv[1])
for case in run["CASES"]:
    run["_run"](tg, case)
print("user code", file=sys.stderr)
np.log(np.zeros(1))
"""


def test_tapegrad_is_silent_and_user_numpy_code_still_warns():
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", _SILENT, __file__],
        capture_output=True,
        text=True,
        check=True,
    )
    first, *rest = result.stderr.splitlines()
    assert first == "user code"
    assert "RuntimeWarning: divide by zero encountered in log" in rest[0]
