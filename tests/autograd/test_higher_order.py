"""Second derivatives: create_graph, autograd.grad, Hessian-vector products vs torch."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def test_backward_create_graph_then_differentiate_the_gradient():
    x = tg.tensor(2.0, requires_grad=True)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.item() == pytest.approx(12.0) and g.grad_fn is not None
    (g2,) = tg.autograd.grad(g, x)
    assert g2.item() == pytest.approx(12.0)


def test_third_derivative():
    x = tg.tensor(1.5, dtype=tg.float64, requires_grad=True)
    (g1,) = tg.autograd.grad(x.exp() * x, x, create_graph=True)
    (g2,) = tg.autograd.grad(g1, x, create_graph=True)
    (g3,) = tg.autograd.grad(g2, x)
    assert g3.item() == pytest.approx(np.exp(1.5) * (1.5 + 3))


def test_grad_without_create_graph_is_constant():
    x = tg.tensor(2.0, requires_grad=True)
    (g,) = tg.autograd.grad(x**2, x)
    assert g.grad_fn is None and not g.requires_grad


def _mlp_loss(ns, x, y, w1, b1, w2, b2):
    h = (x @ w1 + b1).tanh()
    return ((h @ w2 + b2 - y) ** 2).mean()


def test_hessian_vector_product_of_mlp_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(8, 3), (8, 1), (3, 5), (5,), (5, 1), (1,)]]
    vs = [rng.standard_normal(a.shape) for a in arrays[2:]]

    def hvp(ns, make):
        x, y = make(arrays[0], False), make(arrays[1], False)
        params = [make(a, True) for a in arrays[2:]]
        loss = _mlp_loss(ns, x, y, *params)
        grads = ns.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * make(v, False)).sum() for g, v in zip(grads, vs))
        return [h.detach().numpy() for h in ns.autograd.grad(dot, params)]

    ours = hvp(tg, lambda a, rg: tg.tensor(a, dtype=tg.float64, requires_grad=rg))
    theirs = hvp(torch, lambda a, rg: torch.tensor(a, requires_grad=rg))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_allow_unused_false_raises_pytorch_error():
    x = tg.ones(2, requires_grad=True)
    z = tg.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError, match="appears to not have been used in the graph. Set allow_unused=True"
    ):
        tg.autograd.grad((x * 2).sum(), [x, z], create_graph=True)


def test_relu_gradient_recorded_depends_on_its_result_as_torch():
    # torch's ThresholdBackwardBackward0: the gradient requires grad (its derivative through
    # relu's result is 0) even when nothing else connects it to the input
    torch = pytest.importorskip("torch")

    def run(lib):
        x = lib.tensor([-1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (g,) = lib.autograd.grad(x.relu().sum(), x, create_graph=True)
        below = [n and n.name().split("::")[-1] for n, _ in g.grad_fn.next_functions]
        found = [
            g.requires_grad,
            g.grad_fn.name(),
            below,
            lib.autograd.grad(g.sum(), x)[0].tolist(),
        ]
        (g,) = lib.autograd.grad((x.relu() * w).sum(), x, create_graph=True)
        found.append([t.tolist() for t in lib.autograd.grad(g.sum(), [x, w])])
        return found

    assert run(tg) == run(torch)
