"""floor, ceil, round, trunc, fix and frac (ops/rounding.py) against torch: integer and bool
inputs, halves, signed zeros, ``decimals``, zero gradients and in-place forms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.elementwise_torch import assert_same

torch = pytest.importorskip("torch")

# numpy warns for NaN/inf inputs; tapegrad's own filter (installed on import) is reset by pytest
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ROUNDING = ["floor", "ceil", "round", "trunc", "fix"]


def _env(lib: Any) -> dict[str, Any]:
    nan, inf = float("nan"), float("inf")
    return {
        "i": lib.tensor([3, -4, 0]),
        "i32": lib.tensor([3, -4], dtype=lib.int32),
        "u": lib.tensor([3, 200], dtype=lib.uint8),
        "b": lib.tensor([True, False]),
        "f": lib.tensor([1.25, 2.5, -0.5, -0.4, 1.35, 2675.5, -2.5, 0.5, -1.5]),
        "d": lib.tensor([1.25, 2.5, -0.5, -0.4, 1.35, 2675.5, -3.7], dtype=lib.float64),
        "edge": lib.tensor([nan, inf, -inf, 0.0, -0.0, 1e30, -1e-30]),
        "x": lib.tensor([1.3, -2.7], requires_grad=True),
    }


VALUES = [f"{t}.{fn}()" for fn in ROUNDING + ["frac"] for t in ("i", "i32", "u", "b", "f", "d")]
VALUES += [f"edge.{fn}()" for fn in ROUNDING + ["frac"]]
VALUES += [f"lib.{fn}(f)" for fn in ROUNDING + ["frac"]]
VALUES += [
    "i.floor() is i",
    "f.round(decimals=1)",
    "d.round(decimals=1)",
    "f.round(decimals=-1)",
    "d.round(decimals=-2)",
    "f.round(decimals=0)",
    "lib.round(f, decimals=2)",
    "edge.round(decimals=3)",
    "i.round(decimals=0)",
    "i.round(decimals=-1)",
    "b.round(decimals=1)",
    "lib.tensor(2.5).round()",
    "lib.zeros(0, 3).floor()",
    "x.floor()",
    "x.round(decimals=1)",
    "x.frac()",
    "x.fix()",
]
INPLACE = [f"inplace(f.clone(), lambda t: t.{fn}_())" for fn in ROUNDING + ["frac"]]
INPLACE += [f"inplace(i.clone(), lambda t: t.{fn}_())" for fn in ROUNDING]
INPLACE += [
    "inplace(d.clone(), lambda t: t.round_(decimals=1))",
    "inplace(f.clone(), lambda t: t.round_(decimals=-1))",
    "i.clone().round_(decimals=1)",
    "b.clone().floor_()",
    "b.clone().frac_()",
    "i.clone().frac_()",
    "x.floor_()",
    "(x * 1).floor_()",
    "(x * 1).round_(decimals=1)",
    "(x * 1).frac_()",
    "(x * 1).fix_()",
]


@pytest.mark.parametrize("expr", VALUES + INPLACE)
def test_same_outcome_as_torch(expr):
    assert_same(expr, _env)


@pytest.mark.parametrize("call", ["floor", "ceil", "round", "trunc", "fix", "frac", "round1"])
def test_gradients_match_torch(call):
    found = []
    for lib in (tg, torch):
        x = lib.tensor([1.3, -2.7, 0.45], requires_grad=True)
        y = x.round(decimals=1) if call == "round1" else getattr(x, call)()
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        found.append((y.grad_fn.name(), x.grad.tolist()))
    assert found[0] == found[1]


def test_round_halves_to_even_on_many_values():
    x = np.arange(-50, 50) + 0.5
    for dtype in ("float32", "float64"):
        mine = tg.tensor(x, dtype=getattr(tg, dtype)).round().tolist()
        assert mine == torch.tensor(x, dtype=getattr(torch, dtype)).round().tolist()


def test_round_decimals_matches_torch_on_random_values():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(500) * 100
    for decimals in (-2, -1, 1, 2, 3):
        for dtype in ("float32", "float64"):
            mine = tg.tensor(x, dtype=getattr(tg, dtype)).round(decimals=decimals)
            theirs = torch.tensor(x, dtype=getattr(torch, dtype)).round(decimals=decimals)
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_decimals_is_keyword_only_as_torch():
    for lib in (tg, torch):
        with pytest.raises(TypeError):
            lib.ones(2).round(1)


def test_integer_rounding_returns_a_copy():
    i = tg.tensor([1, 2])
    out = i.floor()
    out[0] = 7
    assert i.tolist() == [1, 2]
