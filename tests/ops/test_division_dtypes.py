"""Rounded division and remainders (ops/division.py) against torch: result dtypes of integer
and bool tensors with float numbers and tensors (issue 18's dtype bug: ``int_tensor % 3.5``
gave float64), fmod, remainder, floor_divide, their in-place forms and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.elementwise_torch import assert_same

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

INTS = ["i64", "i32", "u8", "b"]


def _env(lib: Any) -> dict[str, Any]:
    return {
        "i64": lib.tensor([5, -7, 0, 9]),
        "i32": lib.tensor([5, -7, 0, 9], dtype=lib.int32),
        "u8": lib.tensor([5, 7, 0, 250], dtype=lib.uint8),
        "b": lib.tensor([True, False, True, False]),
        "f": lib.tensor([7.0, -7.0, 5.0, -5.0]),
        "d": lib.tensor([7.0, -7.0, 5.5, -5.5], dtype=lib.float64),
        "x": lib.tensor([5.5, -7.0], requires_grad=True),
        "inf": float("inf"),
    }


SCALAR_DTYPES = [
    expr.format(t=t)
    for t in INTS
    for expr in (
        "{t} % 3.5",
        "{t} // 3.5",
        "3.5 % {t}",
        "3.5 // ({t} + 1)",
        "{t}.remainder(3.5)",
        "{t}.remainder(-2.5)",
        "lib.remainder({t}, 3.5)",
        "lib.remainder(3.5, {t})",
        "{t}.floor_divide(3.5)",
        "lib.floor_divide({t}, -3.5)",
        "lib.floor_divide(3.5, {t} + 1)",
        "lib.floor_divide(7, {t} + 1)",
        "{t}.fmod(3.5)",
        "{t}.fmod(-2.5)",
        "{t} % 3",
        "{t} // 3",
        "{t}.fmod(3)",
        "{t}.remainder(True)",
        "{t}.fmod(True)",
        "{t} // True",
        "{t}.div(3.5, rounding_mode='floor')",
        "{t}.div(3.5, rounding_mode='trunc')",
    )
]
TENSOR_DTYPES = [
    expr.format(t=t)
    for t in INTS
    for expr in (
        "{t} % lib.tensor(3.5, dtype=lib.float64)",
        "{t} % lib.tensor([3.5], dtype=lib.float64)",
        "{t} // lib.tensor(3.5, dtype=lib.float64)",
        "{t}.fmod(lib.tensor(2.5))",
        "{t}.fmod(lib.tensor([2.5, 1.5, 1.0, 4.0]))",
        "{t} % lib.tensor([2, 3, 4, 5], dtype=lib.int32)",
        "{t}.fmod(lib.tensor([2, -3, 4, 5]))",
        "lib.floor_divide({t}, lib.tensor([2.0]))",
        "{t} % {t}",
        "{t} // {t}",
        "{t}.fmod({t})",
    )
]
VALUES = [
    "f % lib.tensor([-3.5, 3.5, inf, inf])",
    "f.remainder(lib.tensor([-3.5, 3.5, -inf, 0.0]))",
    "f.fmod(lib.tensor([-3.5, 3.5, 0.0, 1.0]))",
    "lib.tensor([-0.0, 0.0]) % 2.0",
    "lib.tensor([-0.0, 0.0]) % -2.0",
    "d % 2",
    "d.fmod(-2)",
    "d // 2",
    "-7 % f",
    "f // 0",
    "u8 % -2",
    "u8 // -2",
    "u8.fmod(300)",
    "i64.fmod(0)",
    "i64 % 0",
    "i64 // lib.tensor([1, 0, 1, 1])",
    "i64.fmod(lib.tensor([1, 0, 1, 1]))",
    "i64.fmod(0.0)",
    "f.fmod(lib.ones(2))",
    "f.remainder(lib.ones(3))",
    "f.floor_divide(lib.ones(3))",
    "lib.fmod(f, lib.tensor([[2.0], [-3.0]]))",
    "lib.remainder(lib.zeros(0, 2), 2)",
]
GRAPH = [
    "x // 2",
    "3 // x",
    "x.floor_divide(lib.tensor([2.0, 3.0]))",
    "lib.remainder(3.5, x)",
    "3.5 % x",
    "x % 2",
    "x % lib.tensor([2.0, 3.0])",
    "x.fmod(2)",
    "x.fmod(lib.tensor([2.0, 3.0]))",
    "x.div(2, rounding_mode='floor')",
]
INPLACE = [
    "inplace(i64.clone(), lambda t: t.remainder_(3))",
    "inplace(i64.clone(), lambda t: t.fmod_(-3))",
    "inplace(i64.clone(), lambda t: t.floor_divide_(2))",
    "inplace(i64.clone(), lambda t: t.__imod__(4))",
    "inplace(i64.clone(), lambda t: t.__ifloordiv__(4))",
    "inplace(f.clone(), lambda t: t.fmod_(d))",
    "inplace(f.clone(), lambda t: t.remainder_(lib.tensor(2.5)))",
    "inplace(u8.clone(), lambda t: t.remainder_(-2))",
    "i64.clone().remainder_(2.5)",
    "i64.clone().fmod_(2.5)",
    "i64.clone().floor_divide_(2.5)",
    "i32.clone().remainder_(lib.tensor([2.5]))",
    "b.clone().remainder_(2)",
    "b.clone().fmod_(True)",
    "i64.clone().fmod_(0)",
    "f.clone().remainder_(lib.ones(2, 4))",
    "x.remainder_(2)",
    "(x * 1).remainder_(2)",
    "(x * 1).fmod_(lib.tensor([2.0, 3.0]))",
    "(x * 1).floor_divide_(2)",
]


@pytest.mark.parametrize("expr", SCALAR_DTYPES + TENSOR_DTYPES + VALUES + GRAPH + INPLACE)
def test_same_outcome_as_torch(expr):
    assert_same(expr, _env)


def test_floor_divide_cannot_be_differentiated_as_torch():
    for lib in (tg, torch):
        x = lib.tensor([5.5, -7.0], requires_grad=True)
        y = x // 2
        assert y.requires_grad and y.grad_fn.name().endswith("::NotImplemented")
        with pytest.raises(RuntimeError, match="derivative for aten::floor_divide is not"):
            y.sum().backward()


@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_gradients_against_a_tensor_divisor_match_torch(op):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 4)) * 5
    b = rng.uniform(1.0, 2.0, (4,)) * rng.choice([-1.0, 1.0], 4)
    found = []
    for lib in (tg, torch):
        ta, tb = (lib.tensor(v, requires_grad=True) for v in (a, b))
        out = getattr(ta, op)(tb)
        (out * out).sum().backward()
        found.append((out.detach().numpy(), ta.grad.numpy(), tb.grad.numpy()))
    for mine, theirs in zip(*found):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_remainder_of_random_floats_keeps_torch_signed_zeros():
    rng = np.random.default_rng(6)
    a = rng.integers(-6, 7, 300).astype(np.float64) * rng.choice([0.5, 1.0, 1.5], 300)
    b = rng.choice([-1.5, -0.5, 0.5, 1.0, 3.0], 300)
    for dtype in ("float32", "float64"):
        mine = tg.tensor(a, dtype=getattr(tg, dtype)) % tg.tensor(b, dtype=getattr(tg, dtype))
        theirs = torch.tensor(a, dtype=getattr(torch, dtype)) % torch.tensor(
            b, dtype=getattr(torch, dtype)
        )
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
        assert (np.signbit(mine.numpy()) == np.signbit(theirs.numpy())).all()
