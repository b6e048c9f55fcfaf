"""Elementwise tests, logic, bitwise ops, shifts and comparisons (ops/logical.py), against
torch: result dtypes, values, in-place forms and error messages."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.elementwise_torch import assert_same

torch = pytest.importorskip("torch")


def _env(lib: Any) -> dict[str, Any]:
    nan, inf = float("nan"), float("inf")
    return {
        "i": lib.tensor([1, -8, 3]),
        "b": lib.tensor([True, False, True]),
        "u": lib.tensor([1, 128, 7], dtype=lib.uint8),
        "i8": lib.tensor([-5, 5], dtype=lib.int8),
        "f": lib.tensor([1.5, 0.0, nan, inf, -inf]),
        "g": lib.tensor([1.0, 2.0, nan, inf]),
        "x": lib.tensor([1.5, -2.0], requires_grad=True),
    }


VALUE_TESTS = [
    "f.isnan()",
    "f.isinf()",
    "f.isposinf()",
    "f.isneginf()",
    "f.isfinite()",
    "f.double().isnan()",
    "i.isnan()",
    "u.isinf()",
    "b.isfinite()",
    "i.isposinf()",
    "i.isneginf()",
    "lib.isnan(f)",
    "lib.isfinite(i)",
    "lib.tensor(2.0).isnan()",
    "lib.tensor(float('-inf')).isneginf()",
    "lib.zeros(0, 3).isinf()",
]

LOGIC = [
    "f.logical_not()",
    "i.logical_not()",
    "b.logical_not()",
    "lib.logical_not(u)",
    "i.logical_and(b)",
    "i.logical_or(lib.tensor([0.0, 1.0, 0.0]))",
    "lib.logical_xor(i, b)",
    "lib.logical_and(i.reshape(3, 1), b)",
    "i.logical_and(lib.ones(2))",
    "lib.logical_or(f, lib.tensor(0.0))",
    "inplace(f.clone(), lambda t: t.logical_not_())",
    "inplace(i.clone(), lambda t: t.logical_and_(lib.tensor(2)))",
    "inplace(b.clone(), lambda t: t.logical_xor_(i))",
    "inplace(f.clone(), lambda t: t.logical_or_(lib.tensor([0.0])))",
    "i.clone().logical_or_(lib.ones(2, 3))",
    # not tracked, even on a leaf that requires grad, as torch
    "inplace(x, lambda t: t.logical_not_())",
    "(x * 1).logical_not_()",
]

BITWISE = [
    "i.bitwise_not()",
    "b.bitwise_not()",
    "lib.bitwise_not(u)",
    "f.bitwise_not()",
    "~f",
    "lib.bitwise_and(i, 3)",
    "i.bitwise_or(b)",
    "lib.bitwise_xor(i, i)",
    "u.bitwise_and(lib.tensor([3]))",
    "b.bitwise_xor(True)",
    "f.bitwise_and(1)",
    "i.bitwise_or(1.5)",
    "inplace(i.clone(), lambda t: t.bitwise_and_(6))",
    "inplace(b.clone(), lambda t: t.bitwise_or_(lib.tensor([False, True, False])))",
    "inplace(i.clone(), lambda t: t.__ixor__(5))",
    "inplace(i.clone(), lambda t: t.bitwise_not_())",
    "b.clone().bitwise_and_(i)",
    "f.clone().bitwise_and_(6)",
    "x.bitwise_not_()",
]

SHIFTS = [
    "f << 1",
    "i << 1",
    "i >> 1",
    "i << 64",
    "i << -1",
    "i >> 64",
    "i >> -1",
    "i << lib.tensor([1, 2, 3])",
    "u << 1",
    "u >> 1",
    "u >> 8",
    "u >> lib.tensor([255, 1, 9], dtype=lib.uint8)",
    "i8 >> 9",
    "i8 << 7",
    "i8 << 200",
    "b << 1",
    "b << True",
    "1 << i",
    "2 >> lib.tensor([0, 1])",
    "i << 1.5",
    "i.bitwise_left_shift(2)",
    "lib.bitwise_left_shift(i, 2)",
    "lib.bitwise_right_shift(i, lib.tensor(1))",
    "i.int() << lib.tensor([1, 2, 3])",
    "i << lib.ones(2, dtype=lib.int64)",
    "inplace(i.clone(), lambda t: t.bitwise_left_shift_(1))",
    "inplace(i.clone(), lambda t: t.__irshift__(1))",
    "inplace(i.int(), lambda t: t.bitwise_left_shift_(i))",
    "b.clone().bitwise_left_shift_(1)",
]

COMPARISONS = [
    "i.lt(2)",
    "lib.lt(i, 2)",
    "i.le(lib.tensor([1, 2, 3]))",
    "lib.gt(f, 0.5)",
    "i.ge(lib.tensor([[1], [2]]))",
    "lib.ne(i, 1.5)",
    "lib.greater(i, lib.tensor([1, 2, 3]))",
    "i.less(0)",
    "i.less_equal(1)",
    "lib.greater_equal(b, 1)",
    "lib.not_equal(i, 1.5)",
    "i.lt(lib.ones(2))",
    "inplace(i.clone(), lambda t: t.lt_(2))",
    "inplace(b.clone(), lambda t: t.lt_(2))",
    "inplace(f.clone(), lambda t: t.ne_(0))",
    "inplace(i.clone(), lambda t: t.greater_(0))",
    "inplace(f.clone(), lambda t: t.eq_(lib.tensor(0.0)))",
    "inplace(i.clone(), lambda t: t.less_equal_(lib.tensor([1, 1, 1])))",
    "(x * 1).lt_(0)",
    "(x * 1).lt_(lib.tensor([0.0, 0.0]))",
    "(x * 1).eq_(0)",
    "(x * 1).not_equal_(lib.tensor(0.0, requires_grad=True))",
    "x.lt_(0)",
    "lib.ones(2).lt_(lib.ones(2, 2))",
]

CLOSENESS = [
    "lib.isclose(g, g)",
    "lib.isclose(g, g.double())",
    "lib.isclose(g, g, equal_nan=True)",
    "lib.isclose(i, i)",
    "lib.isclose(i, i.int())",
    "lib.isclose(g, lib.tensor(1.0))",
    "lib.isclose(g, lib.ones(3))",
    "lib.isclose(g, g, rtol=-1)",
    "lib.isclose(g, g, atol=-1)",
    "lib.isclose(lib.tensor([True]), lib.tensor([False]))",
    "lib.isclose(g, -g)",
    "lib.isclose(lib.tensor([1e-9]), lib.tensor([0.0]))",
    "lib.isclose(lib.tensor([1.0]), lib.tensor([1.0 + 1e-5]))",
    "lib.isclose(lib.tensor([1.0]), lib.tensor([1.0 + 1e-6]))",
    "lib.isclose(g.double()[:1], lib.tensor([1.00001001], dtype=lib.float64))",
    "lib.isclose(i, i + 1, rtol=0, atol=1)",
    "lib.isclose(i, i + 2, rtol=0.5, atol=0)",
    "lib.isclose(g, g, rtol=0, atol=0)",
    "g.isclose(g, 1e-5, 1e-8, True)",
    "lib.equal(g, g)",
    "lib.equal(g[:2], g[:2].clone())",
    "lib.equal(g[:2], g[:2].double())",
    "lib.equal(i, i.float())",
    "lib.equal(i, lib.ones(2))",
    "lib.equal(lib.ones(1), lib.ones(()))",
    "i.equal(i + 0)",
    "lib.allclose(g, g)",
    "lib.allclose(g, g, equal_nan=True)",
    "lib.allclose(g, g.double())",
    "lib.allclose(i, i)",
    "lib.allclose(g, lib.ones(3))",
    "lib.allclose(lib.ones(2), lib.ones(1))",
    "lib.allclose(lib.tensor([1.0, 2.0]), lib.tensor([1.0, 2.001]), rtol=1e-3)",
    "g.allclose(g, 1e-5, 1e-8, True)",
]


@pytest.mark.parametrize("expr", VALUE_TESTS + LOGIC + BITWISE + SHIFTS + COMPARISONS + CLOSENESS)
def test_same_outcome_as_torch(expr):
    assert_same(expr, _env)


def test_inplace_comparison_gradient_is_zero_as_torch():
    for lib in (tg, torch):
        x = lib.tensor([1.5, -2.0], requires_grad=True)
        y = x * 2
        y.lt_(0)
        (y * 3).sum().backward()
        assert x.grad.tolist() == [0.0, 0.0]


def test_comparison_methods_match_the_operators():
    rng = np.random.default_rng(0)
    a, b = tg.tensor(rng.standard_normal((3, 4))), tg.tensor(rng.standard_normal(4))
    for name, op in (("lt", "__lt__"), ("le", "__le__"), ("gt", "__gt__"), ("ge", "__ge__")):
        assert getattr(a, name)(b).tolist() == getattr(a, op)(b).tolist()
        assert getattr(tg, name)(a, b).dtype == tg.bool


def test_shifts_by_every_amount_match_torch():
    amounts = list(range(-2, 70))
    for dtype in ("int8", "uint8", "int32", "int64"):
        values = [-100, -1, 0, 1, 77] if dtype != "uint8" else [0, 1, 77, 200]
        for op in (operator.lshift, operator.rshift):
            found = []
            for lib in (tg, torch):
                a = lib.tensor(values, dtype=getattr(lib, dtype)).reshape(-1, 1)
                s = lib.tensor(amounts, dtype=lib.int64 if dtype == "uint8" else a.dtype)
                found.append(op(a, s).tolist())
            assert found[0] == found[1], (dtype, op)


def test_isclose_on_random_values_matches_torch():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(200)
    b = a * (1 + rng.choice([0, 1e-6, 1e-5, 2e-5], 200)) + rng.choice([0, 5e-9, 2e-8], 200)
    for dtype in ("float32", "float64"):
        mine = tg.isclose(
            tg.tensor(a, dtype=getattr(tg, dtype)), tg.tensor(b, dtype=getattr(tg, dtype))
        )
        theirs = torch.isclose(
            torch.tensor(a, dtype=getattr(torch, dtype)),
            torch.tensor(b, dtype=getattr(torch, dtype)),
        )
        assert mine.tolist() == theirs.tolist()
