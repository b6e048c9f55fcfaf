"""The cheaper numpy forms linalg backward rules pick for some shapes give the same gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.ops import linalg as L


def test_mm_with_inner_dimension_one_has_the_outer_product_gradient():
    rng = np.random.default_rng(1)
    a_np, b_np = rng.standard_normal((6, 1)), rng.standard_normal((1, 6))
    a, b = tg.tensor(a_np, requires_grad=True), tg.tensor(b_np, requires_grad=True)
    g = rng.standard_normal((6, 6))
    (a.mm(b) * tg.tensor(g)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), g @ b_np.T, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), a_np.T @ g, rtol=1e-12)


def test_linear_to_one_output_backpropagates_like_numpy():
    rng = np.random.default_rng(2)
    x_np, w_np = rng.standard_normal((50, 8)), rng.standard_normal((1, 8))
    h = tg.tensor(x_np, requires_grad=True)
    w = tg.tensor(w_np, requires_grad=True)
    b = tg.zeros(1, dtype=tg.float64, requires_grad=True)
    out = F.linear(h, w, b)
    out.sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), np.ones((50, 1)) @ w_np, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), np.ones((1, 50)) @ x_np, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [50.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shapes",
    [((7, 5), (5, 3)), ((1, 9), (9, 4)), ((6, 8), (8, 1)), ((6, 1), (1, 5)), ((1, 1), (1, 1))],
)
@pytest.mark.parametrize("layout", ["C", "transposed"])
def test_products_through_np_dot_equal_the_matmul_operator_bit_for_bit(dtype, shapes, layout):
    rng = np.random.default_rng(3)
    (m, k), (_, n) = shapes
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    if layout == "transposed":  # the .T / .mT views backward multiplies by
        a, b = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    bias = rng.standard_normal(n).astype(dtype)
    np.testing.assert_array_equal(L._mm(a, b), a @ b)
    np.testing.assert_array_equal(L.Mm().forward(a, b), a @ b)
    np.testing.assert_array_equal(L.Addmm().forward(bias, a, b), a @ b + bias)


def test_addmm_beta_and_alpha_as_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (2, 4), (4, 3))]
    found = []
    for lib in (tg, torch):
        runs = []
        for beta, alpha in ((0.5, 2.0), (0, 1.5)):
            c, a, b = (lib.from_numpy(x.copy()).requires_grad_() for x in arrays)
            out = lib.addmm(c, a, b, beta=beta, alpha=alpha)
            (out * out).sum().backward()
            runs.append([out.grad_fn.name(), out.detach().numpy(), c.grad, a.grad, b.grad])
        nan_bias = lib.full((2, 3), float("nan"))
        ignored = lib.addmm(nan_bias, *(lib.from_numpy(x) for x in arrays[1:]), beta=0)
        runs.append(bool(np.isnan(ignored.numpy()).any()))  # beta=0 ignores the bias's NaN
        found.append(runs)
    ours, theirs = found
    assert ours[-1] == theirs[-1] is False
    for got, want in zip(ours[:-1], theirs[:-1]):
        assert got[0] == want[0] == "AddmmBackward0"
        for g, w in zip(got[1:], want[1:]):
            g, w = (v.numpy() if hasattr(v, "numpy") else v for v in (g, w))
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
