"""erf, erfc, exp2, expm1, log2, log10, log1p, rsqrt, square, logaddexp, logaddexp2, lerp and
copysign (ops/special.py) against torch: accuracy, dtypes, in-place forms and errors. Values
and gradients of the float64 samples are checked by the registry."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.elementwise_torch import assert_same

torch = pytest.importorskip("torch")

# numpy warns for NaN/inf inputs; tapegrad's own filter (installed on import) is reset by pytest
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

UNARY = ["erf", "erfc", "exp2", "expm1", "log2", "log10", "log1p", "rsqrt"]


def _env(lib: Any) -> dict[str, Any]:
    return {
        "i": lib.tensor([1, 2, 0]),
        "b": lib.tensor([True, False]),
        "u": lib.tensor([3, 200], dtype=lib.uint8),
        "f": lib.tensor([0.25, 1.5, 3.0]),
        "n": lib.tensor([-0.5, 0.0, 2.0]),
        "d": lib.tensor([0.25, 1.5, 3.0], dtype=lib.float64),
        "e": lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64),
        "edge": lib.tensor([-1.0, 0.0, -0.0, float("nan"), float("inf"), -float("inf")]),
        "x": lib.tensor([0.25, 1.5], requires_grad=True),
    }


DTYPES = [f"{t}.{fn}()" for fn in UNARY + ["square"] for t in ("i", "b", "u", "f", "d")]
DTYPES += [f"edge.{fn}()" for fn in UNARY + ["square"]] + ["lib.zeros(0).erf()"]
BINARY = [
    "f.logaddexp(d)",
    "i.logaddexp(f)",
    "lib.logaddexp(f, lib.tensor(2))",
    "i.logaddexp(i)",
    "b.logaddexp(b)",
    "i.logaddexp2(i)",
    "f.logaddexp(2.0)",
    "f.logaddexp(lib.ones(2))",
    "lib.logaddexp(lib.tensor([1000.0, -1000.0]), lib.tensor([1000.0, -1000.0]))",
    "lib.logaddexp2(lib.tensor([1000.0, -inf]), lib.tensor([999.0, -inf]))",
    "f.copysign(n)",
    "i.copysign(i)",
    "i.copysign(-1)",
    "b.copysign(-1)",
    "f.copysign(-1)",
    "i.copysign(-1.0)",
    "f.copysign(d)",
    "b.copysign(b)",
    "f.copysign(True)",
    "lib.copysign(lib.tensor([0.0, -0.0, 1.0]), lib.tensor([-1.0, -1.0, -0.0]))",
    "lib.copysign(f, lib.tensor([[1.0], [-1.0]]))",
    "f.copysign(lib.ones(2))",
]
LERP = [
    "f.lerp(d, 0.5)",
    "f.lerp(f * 2, 0.5)",
    "d.lerp(e, 0.25)",
    "d.lerp(e, -3)",
    "f.lerp(f, d)",
    "f.lerp(f * 3, lib.tensor(0.5, dtype=lib.float64))",
    "f.lerp(f * 3, lib.tensor(1))",
    "f.lerp(f * 3, True)",
    "f.lerp(i, 0.5)",
    "i.lerp(f, 0.5)",
    "i.lerp(i, i)",
    "i.lerp(i, 1)",
    "f.lerp(f, lib.tensor([0.5, 0.2, 0.1], dtype=lib.float16))",
    "f.lerp(lib.ones(2), 0.5)",
    "f.lerp(f, lib.ones(2))",
    "lib.ones(2, 3).lerp(f[:3], lib.ones(4, 1, 1))",
    "lib.lerp(d, e, e / 4)",
]
INPLACE = [f"inplace(f.clone(), lambda t: t.{fn}_())" for fn in UNARY + ["square"]]
INPLACE += [
    "inplace(i.clone(), lambda t: t.square_())",
    "b.clone().square_()",
    "i.erf_()",
    "b.exp2_()",
    "inplace(f.clone(), lambda t: t.copysign_(-1))",
    "inplace(f.clone(), lambda t: t.copysign_(n))",
    "inplace(f.clone(), lambda t: t.copysign_(i))",
    "i.clone().copysign_(2)",
    "inplace(f.clone(), lambda t: t.lerp_(f * 2, 0.3))",
    "inplace(f.clone(), lambda t: t.lerp_(f * 2, f / 4))",
    "f.clone().lerp_(lib.ones(2, 3), 0.5)",
    "f.clone().lerp_(d, 0.5)",
    "x.erf_()",
    "x.lerp_(x, 0.5)",
    "(x * 1).erfc_()",
    "(x * 1).log1p_()",
    "(x * 1).square_()",
    "(x * 1).copysign_(-2.0)",
    "(x * 1).copysign_(lib.tensor([1.0, -1.0]))",
    "(x * 1).lerp_(lib.ones(2), 0.25)",
    "(x * 1).lerp_(lib.ones(2), lib.tensor([0.5, 0.7]))",
    "f.clone().lerp_(lib.ones(3), x.detach().clone().requires_grad_()[:1])",
]


@pytest.mark.parametrize("expr", DTYPES + BINARY + LERP + INPLACE)
def test_same_outcome_as_torch(expr):
    assert_same(expr, lambda lib: {**_env(lib), "inf": float("inf")}, rtol=2e-6)


def test_erf_and_erfc_are_accurate_in_float64():
    x = np.concatenate(
        [np.linspace(-6, 6, 2001), [0.0, -0.0, 1e-300, 1e-8, -1e-8, 0.5, 0.476936, 26.5, -27.0]]
    )
    for fn in ("erf", "erfc"):
        mine = getattr(tg.tensor(x, dtype=tg.float64), fn)().numpy()
        theirs = getattr(torch.tensor(x, dtype=torch.float64), fn)().numpy()
        exact = np.array([getattr(math, fn)(v) for v in x])
        np.testing.assert_allclose(mine, exact, rtol=1e-15, atol=0)
        np.testing.assert_allclose(mine, theirs, rtol=1e-14, atol=1e-300)


def test_erfc_keeps_the_tail_erf_loses():
    x = tg.tensor([10.0, 20.0], dtype=tg.float64)
    assert (1 - x.erf()).tolist() == [0.0, 0.0]
    np.testing.assert_allclose(x.erfc().numpy(), [2.088487583762545e-45, 5.395865611607901e-176])


def test_erf_in_float32_matches_torch():
    x = np.linspace(-4, 4, 801, dtype=np.float32)
    mine = tg.tensor(x).erf().numpy()
    assert mine.dtype == np.float32
    np.testing.assert_allclose(mine, torch.tensor(x).erf().numpy(), rtol=3e-7, atol=1e-7)


@pytest.mark.parametrize("fn", UNARY + ["square"])
def test_inplace_on_a_non_leaf_is_recorded_as_torch(fn):
    start = np.array([0.3, 0.6, 1.45])
    found = []
    for lib in (tg, torch):
        x = lib.tensor(start, requires_grad=True)
        out = getattr(x * 1.0, f"{fn}_")()
        (out * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        found.append((out.grad_fn.name(), out.detach().numpy(), x.grad.numpy()))
    assert found[0][0] == found[1][0]
    np.testing.assert_allclose(found[0][1], found[1][1], rtol=1e-12)
    np.testing.assert_allclose(found[0][2], found[1][2], rtol=1e-12)


def test_lerp_gradients_with_a_tensor_weight_broadcast_match_torch():
    rng = np.random.default_rng(5)
    a, b, w = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.uniform(0, 1, (3, 1))
    found = []
    for lib in (tg, torch):
        ts = [lib.tensor(v, requires_grad=True) for v in (a, b, w)]
        out = lib.lerp(*ts)
        (out * out).sum().backward()
        found.append([out.detach().numpy()] + [t.grad.numpy() for t in ts])
    for mine, theirs in zip(*found):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_lerp_needs_a_tensor_end_as_torch():
    for lib in (tg, torch):
        with pytest.raises(TypeError, match="lerp()"):
            lib.ones(2).lerp(2.0, 0.5)


def test_lerp_is_exact_at_both_ends():
    a, b = tg.tensor([0.1, 1e8]), tg.tensor([3.3, -7.7])
    assert a.lerp(b, 0.0).tolist() == a.tolist()
    assert a.lerp(b, 1.0).tolist() == b.tolist()


def test_copysign_gradient_at_zero_is_zero_as_torch():
    found = []
    for lib in (tg, torch):
        x = lib.tensor([0.0, -1.5, 2.0], requires_grad=True)
        y = lib.tensor([-1.0, 1.0, -0.0], requires_grad=True)
        x.copysign(y).sum().backward()
        found.append((x.grad.tolist(), y.grad.tolist()))
    assert found[0] == found[1]
