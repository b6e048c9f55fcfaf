"""The blog post's walkthrough, step by step, with its printed numbers."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def test_mean_of_ones_gives_quarter_gradients():
    x = tg.ones(2, 2, requires_grad=True)
    y = x.mean()
    assert y.grad_fn.name() == "MeanBackward0"
    y.backward()
    assert repr(x.grad) == "tensor([[0.2500, 0.2500],\n        [0.2500, 0.2500]])"


def _blog_graph():
    x1 = tg.ones(2, 2, requires_grad=True)
    x2 = tg.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    y.retain_grad()
    z = y.pow(2) * 3
    z.retain_grad()
    out = z.mean()
    return x1, x2, y, z, out


def test_digging_deeper_gradients():
    x1, x2, y, z, out = _blog_graph()
    assert repr(out) == "tensor(28.8300, grad_fn=<MeanBackward0>)"
    out.backward()
    assert repr(z.grad) == "tensor([[0.2500, 0.2500],\n        [0.2500, 0.2500]])"
    assert repr(y.grad) == "tensor([[4.6500, 4.6500],\n        [4.6500, 4.6500]])"
    assert repr(x2.grad) == "tensor(18.6000)"
    assert repr(x1.grad) == "tensor([[14.4150, 14.4150],\n        [14.4150, 14.4150]])"


def test_digging_deeper_grad_fn_chain():
    x1, x2, _, _, out = _blog_graph()
    mean = out.grad_fn
    assert mean.name() == "MeanBackward0"
    mul3 = mean.next_functions[0][0]
    assert mul3.name() == "MulBackward0"
    assert mul3.next_functions[1] == (None, 0)
    pow_node = mul3.next_functions[0][0]
    assert pow_node.name() == "PowBackward0"
    mul = pow_node.next_functions[0][0]
    assert mul.name() == "MulBackward0"
    (acc1, i1), (add, i2) = mul.next_functions
    assert (acc1.name(), i1, add.name(), i2) == ("AccumulateGrad", 0, "AddBackward0", 0)
    assert acc1.variable is x1
    acc2 = add.next_functions[0][0]
    assert acc2.name() == "AccumulateGrad" and acc2.variable is x2
    assert add.next_functions[1] == (None, 0)


def test_blog_training_loop_runs_and_loss_falls():
    tg.manual_seed(0)
    n, d_in, d_hidden, d_out = 100, 3, 32, 1
    x = tg.randn(n, d_in)
    y = x[:, 0, None] * 0.2 - x[:, 1, None] * 1.3 - x[:, 2, None] * 0.5 + tg.randn(n, 1)
    w1 = tg.randn(d_in, d_hidden, requires_grad=True)
    w2 = tg.randn(d_hidden, d_out, requires_grad=True)
    b1 = tg.zeros(1, d_hidden, requires_grad=True)
    b2 = tg.zeros(1, d_out, requires_grad=True)
    learning_rate = 1e-4
    losses = []
    for _ in range(200):
        y_pred = x.mm(w1).add(b1).clamp(min=0).mm(w2).add(b2)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with tg.no_grad():
            w1 = w1.sub_(learning_rate * w1.grad)
            w2 = w2.sub_(learning_rate * w2.grad)
            b1 = b1.sub_(learning_rate * b1.grad)
            b2 = b2.sub_(learning_rate * b2.grad)
            w1.grad.zero_()
            w2.grad.zero_()
            b1.grad.zero_()
            b2.grad.zero_()
    assert losses[-1] < losses[0] / 3
    assert all(np.isfinite(losses))
    assert w1.dtype == tg.float32 and w1.grad.dtype == tg.float32


def test_blog_loop_matches_torch_trajectory():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((100, 3)).astype(np.float32)
    y_np = x_np @ np.array([[0.2], [-1.3], [-0.5]], np.float32) + rng.standard_normal(
        (100, 1)
    ).astype(np.float32)
    init = [
        rng.standard_normal((3, 32)).astype(np.float32),
        rng.standard_normal((32, 1)).astype(np.float32),
        np.zeros((1, 32), np.float32),
        np.zeros((1, 1), np.float32),
    ]

    def run(ns, tensor):
        x, y = tensor(x_np), tensor(y_np)
        params = [tensor(p.copy()).requires_grad_() for p in init]
        w1, w2, b1, b2 = params
        losses = []
        for _ in range(200):
            loss = (x.mm(w1).add(b1).clamp(min=0).mm(w2).add(b2) - y).pow(2).sum()
            losses.append(loss.item())
            loss.backward()
            with ns.no_grad():
                for p in params:
                    p.sub_(1e-4 * p.grad)
                    p.grad.zero_()
        return np.array(losses)

    ours = run(tg, tg.tensor)
    theirs = run(torch, torch.tensor)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
