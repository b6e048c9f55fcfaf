"""Tensor hooks and node hooks: rewrite, remove, order."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def test_leaf_hook_rewrites_gradient_and_can_be_removed():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [20.0, 20.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_non_leaf_hooks_run_in_order_and_retain_grad_sees_the_result():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    order = []
    y.register_hook(lambda g: order.append("first"))
    y.retain_grad()
    y.register_hook(lambda g: (order.append("second"), g * 2)[1])
    y.sum().backward()
    assert order == ["first", "second"]
    assert y.grad.tolist() == [2.0, 2.0]
    assert x.grad.tolist() == [6.0, 6.0]


def test_hook_sees_a_tensor():
    seen = []
    x = tg.ones(2, requires_grad=True)
    x.register_hook(lambda g: seen.append(type(g)))
    x.sum().backward()
    assert seen == [tg.Tensor]


def test_hook_on_tensor_without_grad_is_refused():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tg.ones(2).register_hook(lambda g: g)


def test_node_prehook_and_post_hook():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.grad_fn.register_prehook(lambda grad_outputs: (grad_outputs[0] * 0 + 1,))
    seen = []
    y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: seen.append(grad_inputs[0].tolist()))
    (y * 5).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_allclose(seen[0], np.exp([1.0, 2.0]), rtol=1e-6)


def test_hooks_apply_in_autograd_grad_too():
    x = tg.tensor(3.0, requires_grad=True)
    x.register_hook(lambda g: g + 1)
    (g,) = tg.autograd.grad(x * 2, x)
    assert g.item() == 3.0


def test_post_hook_on_a_leaf_accumulator_runs_as_in_torch():
    w = tg.ones(2, requires_grad=True)
    y = (w * 3).sum()
    acc = y.grad_fn.next_functions[0][0].next_functions[0][0]
    seen = []
    acc.register_hook(lambda grad_inputs, grad_outputs: seen.append((grad_inputs, grad_outputs)))
    y.backward()
    ((grad_inputs, grad_outputs),) = seen  # torch: [((), (tensor([3., 3.]),))]
    assert grad_inputs == ()
    assert [g.tolist() for g in grad_outputs] == [[3.0, 3.0]]
    assert w.grad.tolist() == [3.0, 3.0]
