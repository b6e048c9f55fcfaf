"""The cheaper numpy forms linalg backward rules pick for some shapes give the same gradients."""

from __future__ import annotations

import numpy as np

import tapegrad as tg
import tapegrad.nn.functional as F


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
