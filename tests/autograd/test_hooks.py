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
    np.testing.assert_allclose(x.grad.detach().numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
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


def _post_hook_views(lib):
    """What a post hook sees per case: each gradient's shape and dtype, or None."""
    import tapegrad.nn  # noqa: F401 - lib.nn for tapegrad

    def linear(x):
        lin = lib.nn.Linear(3, 2)
        return lin(x)

    f64 = lib.float64
    cases = {
        "broadcast add": lambda x: x + lib.zeros(3, requires_grad=True),
        "constant times": lambda x: lib.ones(4, 1) * x,
        "promoted mul": lambda x: x * lib.ones(3, dtype=f64, requires_grad=True),
        "linear": linear,
        "addmm": lambda x: lib.zeros(2, requires_grad=True).addmm(x, lib.ones(3, 2)),
        "where": lambda x: lib.where(x > 0, x, lib.zeros(1, 3, dtype=f64, requires_grad=True)),
        "cat": lambda x: lib.cat([x, lib.ones(2, 3, dtype=f64, requires_grad=True)]),
    }
    views = {}
    for name, build in cases.items():
        x = lib.ones(4, 3, requires_grad=True)
        out = build(x)
        seen = []
        out.grad_fn.register_hook(
            lambda gi, go, seen=seen: seen.extend(
                None if g is None else (tuple(g.shape), str(g.dtype).split(".")[-1]) for g in gi
            )
        )
        out.sum().backward()
        views[name] = seen
    return views


def test_post_hooks_see_gradients_as_torch_validates_them():
    # reduced to each input's shape, cast to its dtype, None where no gradient is needed;
    # linear's mat2 is weight.t() (its fold is invisible to hooks)
    torch = pytest.importorskip("torch")
    assert _post_hook_views(tg) == _post_hook_views(torch)


def test_post_hook_replacing_linear_weight_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    import tapegrad.nn  # noqa: F401

    weight = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    scale = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    grads = []
    for lib in (tg, torch):
        lin = lib.nn.Linear(3, 2)
        with lib.no_grad():
            lin.weight.copy_(lib.from_numpy(weight))
        out = lin(lib.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3)))
        out.grad_fn.register_hook(lambda gi, go, lib=lib: (*gi[:2], gi[2] * lib.from_numpy(scale)))
        out.grad_fn.next_functions[2][0].register_prehook(lambda go: (go[0] + 1,))
        out.sum().backward()
        grads.append(lin.weight.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_custom_function_post_hook_sees_what_backward_returned():
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (tg, torch):

        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a * 2 + b

            @staticmethod
            def backward(ctx, g):
                return g * 2, g.sum(0)  # b needs no gradient, but backward gives one

        out = Scale.apply(lib.ones(4, 3, requires_grad=True), lib.ones(4, 3))
        shapes = seen[lib.__name__] = []
        out.grad_fn.register_hook(lambda gi, go, s=shapes: s.extend(tuple(g.shape) for g in gi))
        out.sum().backward()
    assert seen["tapegrad"] == seen["torch"] == [(4, 3), (3,)]


def _hook_result_errors(lib):
    def shrink(g):
        return g[:2]

    returns = {
        "smaller": shrink,
        "summed": lambda g: g.sum(),
        "double": lambda g: g.double(),
        "a number": lambda g: 5,
    }
    found = {}
    for where in ("leaf", "non-leaf"):
        for name, hook in returns.items():
            x = lib.ones(3, requires_grad=True)
            y = x if where == "leaf" else x * 2
            y.register_hook(hook)
            try:
                (y * 2).sum().backward()
                found[where, name] = "ok"
            except (RuntimeError, TypeError) as exc:
                found[where, name] = f"{type(exc).__name__}: {exc}".replace("torch.", "tapegrad.")
    return found


def test_tensor_hook_results_are_checked_as_torch():
    torch = pytest.importorskip("torch")
    ours = _hook_result_errors(tg)
    theirs = _hook_result_errors(torch)
    for key, message in theirs.items():
        legacy = message.replace("FloatTensor", "float32").replace("DoubleTensor", "float64")
        assert ours[key] == legacy, key
