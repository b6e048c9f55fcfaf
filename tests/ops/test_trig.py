"""Trigonometric and hyperbolic functions (ops/trig.py) against torch: dtypes, domains,
aliases, in-place forms and errors. Values and gradients of the float64 samples are checked
by the registry (tests/ops/test_registry.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.elementwise_torch import assert_same

torch = pytest.importorskip("torch")

# numpy warns for NaN/inf inputs; tapegrad's own filter (installed on import) is reset by pytest
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

UNARY = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"]
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh"}
NO_INPLACE_DERIVATIVE = ("asinh", "acosh", "atanh")
ALIASES |= {"arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2"}


def _env(lib: Any) -> dict[str, Any]:
    return {
        "i": lib.tensor([1, -2, 0]),
        "b": lib.tensor([True, False]),
        "u": lib.tensor([3, 200], dtype=lib.uint8),
        "f": lib.tensor([0.25, -0.5, 0.75]),
        "d": lib.tensor([0.25, -0.5, 0.75], dtype=lib.float64),
        "h": lib.tensor([0.25, -0.5], dtype=lib.float16),
        "big": lib.tensor([1.5, 2.0, 3.0]),
        "edge": lib.tensor([-2.0, -1.0, 1.0, 2.0, float("nan"), float("inf")]),
        "x": lib.tensor([0.25, -0.5], requires_grad=True),
    }


DTYPES = [f"{t}.{fn}()" for fn in UNARY for t in ("i", "b", "u", "f", "d")]
DTYPES += [f"lib.{fn}(h)" for fn in ("sin", "atan", "cosh")]
DOMAINS = [f"edge.{fn}()" for fn in UNARY] + ["big.acosh()", "lib.zeros(0, 2).sin()"]
BINARY = [
    "lib.atan2(f, d)",
    "i.atan2(i)",
    "b.atan2(b)",
    "i.atan2(f)",
    "f.atan2(lib.tensor([[1.0], [-1.0]]))",
    "lib.atan2(lib.tensor([0.0, -0.0, 0.0, -0.0]), lib.tensor([0.0, 0.0, -0.0, -0.0]))",
    "f.atan2(2.0)",
    "f.atan2(lib.ones(2))",
    "f.hypot(d)",
    "lib.hypot(f, lib.tensor(2.0))",
    "i.hypot(f)",
    "i.hypot(i)",
    "b.hypot(b)",
    "f.hypot(2.0)",
    "f.hypot(lib.ones(2))",
    "lib.hypot(lib.tensor([float('inf')]), lib.tensor([float('nan')]))",
]
ALIAS_CALLS = [f"f.{a}()" for a in ALIASES if a != "arctan2"] + [
    "lib.arcsin(f)",
    "lib.arctan2(f, d)",
    "f.arctan2(f)",
    "f.clone().arcsinh_()",
]
INPLACE = [f"inplace(f.clone(), lambda t: t.{fn}_())" for fn in UNARY if fn != "acosh"]
INPLACE += [
    "inplace(big.clone(), lambda t: t.acosh_())",
    "inplace(d.clone(), lambda t: t.sin_())",
    "inplace(f.clone(), lambda t: t.atan2_(d))",
    "inplace(f.clone(), lambda t: t.hypot_(lib.tensor(2.0)))",
    "inplace(f.clone(), lambda t: t.arctan2_(f))",
    "i.sin_()",
    "b.cos_()",
    "i.atan2_(i)",
    "f.clone().atan2_(lib.ones(2, 3))",
    "f.clone().sin_().grad_fn",
    "x.sin_()",
    "x.atan2_(x)",
    "(x * 1).tan_()",
    "(x * 1).asinh_()",
    "(x * 1).atan2_(lib.tensor([1.0, 2.0]))",
    "(x * 1).hypot_(lib.tensor([1.0, 2.0]))",
    "lib.ones(2, 2).expand(2, 2).t().clone().sin_()",
]


@pytest.mark.parametrize("expr", DTYPES + DOMAINS + BINARY + ALIAS_CALLS + INPLACE)
def test_same_outcome_as_torch(expr):
    assert_same(expr, _env, rtol=2e-6)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_are_the_same_ops(alias):
    x = tg.tensor([0.25, -0.5], dtype=tg.float64, requires_grad=True)
    target = ALIASES[alias]
    args = (x,) if alias != "arctan2" else (x, x.detach() + 1)
    a, b = getattr(tg, alias)(*args), getattr(tg, target)(*args)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert a.grad_fn.name() == b.grad_fn.name()
    assert hasattr(torch.Tensor, alias) and hasattr(torch, alias)


@pytest.mark.parametrize("fn", UNARY + ["atan2", "hypot"])
def test_inplace_on_a_non_leaf_is_recorded_as_torch(fn):
    start = np.array([0.3, -0.6, 0.45]) if fn != "acosh" else np.array([1.3, 2.0, 1.7])
    other = np.array([0.7, 1.5, -2.0])
    found = []
    for lib in (tg, torch):
        x = lib.tensor(start, requires_grad=True)
        y = x * 1.0
        args = (lib.tensor(other),) if fn in ("atan2", "hypot") else ()
        out = getattr(y, f"{fn}_")(*args)
        loss = (out * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum()
        if fn in NO_INPLACE_DERIVATIVE:  # torch records them, but cannot differentiate them
            with pytest.raises(NotImplementedError, match=f"'inplace version of {fn}' is not"):
                loss.backward()
            found.append((out.grad_fn.name(), out.detach().numpy().tolist(), [0.0]))
            continue
        loss.backward()
        found.append((out.grad_fn.name(), out.detach().numpy().tolist(), x.grad.numpy().tolist()))
    assert found[0][0] == found[1][0]
    np.testing.assert_allclose(found[0][1], found[1][1], rtol=1e-12)
    np.testing.assert_allclose(found[0][2], found[1][2], rtol=1e-12)


def test_inplace_under_no_grad_changes_a_leaf():
    x = tg.tensor([0.5, 1.0], requires_grad=True)
    with tg.no_grad():
        x.cos_()
    np.testing.assert_allclose(x.detach().numpy(), np.cos([0.5, 1.0]).astype(np.float32))
    assert x.requires_grad and x.grad_fn is None


def test_second_derivative_of_sin_is_minus_sin():
    x = tg.tensor([0.3, -1.2], dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(x.sin().sum(), x, create_graph=True)
    (gg,) = tg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), -np.sin([0.3, -1.2]), rtol=1e-14)
