"""The backward engine: deep graphs, shared subgraphs, accumulation, retain_graph, errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import tapegrad as tg


def test_hundred_thousand_op_chain_has_no_recursion_error():
    x = tg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_diamond_sums_both_paths_and_runs_shared_node_once():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    shared = x.exp()
    calls = []
    shared.grad_fn.register_prehook(lambda g: calls.append(1))
    out = (shared * 2 + shared * 3).sum()
    out.backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 5 * np.exp([1.0, 2.0]), rtol=1e-6)
    assert len(calls) == 1


def test_leaf_used_twice_shares_one_accumulator():
    x = tg.ones(2, requires_grad=True)
    y = x * x
    (a, _), (b, _) = y.grad_fn.next_functions
    assert a is b


def test_leaf_keeps_one_accumulator_across_graphs():
    x = tg.ones(2, requires_grad=True)
    first = weakref.ref((x * 2).grad_fn.next_functions[0][0])  # that graph is dropped at once
    second = (x * 3).grad_fn.next_functions[0][0]
    assert first() is second and second.variable is x


def test_leaf_and_accumulator_are_freed_without_the_cycle_collector():
    gc.disable()
    try:
        x = tg.ones(2, requires_grad=True)
        (x * 2).sum().backward()
        leaf, acc = weakref.ref(x), weakref.ref(x._acc)
        del x
        assert leaf() is None and acc() is None
    finally:
        gc.enable()


def test_replaced_data_of_another_shape_gets_a_new_accumulator():
    x = tg.ones(2, requires_grad=True)
    old = (x * 2).grad_fn.next_functions[0][0]
    x.data = tg.ones(3, dtype=tg.float64)
    y = (x * 2).sum()
    assert y.grad_fn.next_functions[0][0].next_functions[0][0] is not old
    y.backward()
    assert x.grad.shape == (3,) and x.grad.dtype == tg.float64


def test_backward_after_the_leaf_is_freed_still_runs_its_hooks():
    seen = []
    x = tg.ones(2, requires_grad=True)
    w = tg.full((2,), 3.0, requires_grad=True)
    x.register_hook(lambda g: seen.append(g.tolist()))
    y = (x * w).sum()
    acc = y.grad_fn.next_functions[0][0].next_functions[0][0]
    del x
    gc.collect()
    assert acc.variable is None
    y.backward()
    assert seen == [[3.0, 3.0]] and w.grad.tolist() == [1.0, 1.0]


def test_double_backward_after_a_leaf_is_freed():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w * w).sum()  # the first product saved x, a leaf
    del x
    gc.collect()
    (gw,) = tg.autograd.grad(y, (w,), create_graph=True)
    assert gw.tolist() == [6.0, 16.0]  # 2 x w
    gw.sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]  # 2 x


def test_grad_accumulates_across_backward_calls_until_zeroed():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), [6.0, 6.0])
    x.grad.zero_()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), [2.0, 2.0])
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), [1.0, 1.0])


def test_leaf_grads_never_alias_each_other():
    a = tg.ones(2, requires_grad=True)
    b = tg.ones(2, requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.detach().numpy(), [1.0, 1.0])


def test_retain_graph_allows_second_backward():
    x = tg.tensor(2.0, requires_grad=True)
    y = x.exp() * x
    y.backward(retain_graph=True)
    first = x.grad.item()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * first)


def test_second_backward_without_retain_graph_raises():
    x = tg.tensor(2.0, requires_grad=True)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_graph_without_saved_values_can_backward_twice_like_torch():
    x = tg.tensor(2.0, requires_grad=True)
    y = x + 1
    y.backward()
    y.backward()
    assert x.grad.item() == 2.0


def test_saved_arrays_are_released_after_backward():
    x = tg.ones(3, requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert node.saved is None


def test_graph_is_freed_when_output_dies():
    x = tg.ones(3, requires_grad=True)
    y = (x * 2).exp().sum()
    node = weakref.ref(y.grad_fn)
    y.backward()
    del y
    gc.collect()
    assert node() is None


def test_non_scalar_backward_needs_gradient():
    x = tg.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()


def test_gradient_of_wrong_shape():
    x = tg.ones(2, 2, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"Mismatch in shape: grad_output\[0\] has a shape of "
        r"\[3\] and output\[0\] has a shape of \[2, 2\]",
    ):
        (x * 2).backward(tg.ones(3))


def test_backward_on_tensor_outside_graph():
    with pytest.raises(
        RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"
    ):
        tg.ones(2).sum().backward()


def test_non_scalar_backward_with_gradient():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(tg.tensor([1.0, 0.1, 0.01]))
    np.testing.assert_allclose(x.grad.detach().numpy(), [2.0, 0.4, 0.06], rtol=1e-6)


def test_non_leaf_grad_is_none_with_warning_unless_retained():
    x = tg.ones(2, requires_grad=True)
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None
    z = x * 3
    z.retain_grad()
    z.sum().backward()
    np.testing.assert_array_equal(z.grad.detach().numpy(), [1.0, 1.0])


def test_gradient_dtype_follows_leaf_dtype_under_promotion():
    a = tg.ones(3, requires_grad=True)
    b = tg.ones(3, dtype=tg.float64, requires_grad=True)
    out = (a * b).sum()
    assert out.dtype == tg.float64
    out.backward()
    assert a.grad.dtype == tg.float32 and b.grad.dtype == tg.float64


def _promotion_graphs(lib):
    """For each mixed-dtype op: the names below its node, the result's and grads' dtypes."""
    cases = {
        "mul": lambda a, b: a * b,
        "rsub": lambda a, b: b - a,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a**b,
        "maximum": lambda a, b: lib.maximum(a, b),
        "where": lambda a, b: lib.where(a > 1, a, b),
        "cat": lambda a, b: lib.cat([a, b]),
        "stack": lambda a, b: lib.stack([a, b]),
        "0-d float64": lambda a, b: a * b.sum(),  # a 0-d tensor does not promote
    }
    found = {}
    for name, op in cases.items():
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = lib.tensor([0.5, 1.5, 2.5], dtype=lib.float64, requires_grad=True)
        out = op(a, b)
        below = [n.name().split("::")[-1] for n, _ in out.grad_fn.next_functions]
        (out * out).sum().backward()
        dtypes = [str(t.dtype).split(".")[-1] for t in (out, a.grad, b.grad)]
        found[name] = (below, dtypes, a.grad.tolist(), b.grad.tolist())
    return found


def test_type_promotion_records_no_cast_node_as_torch():
    # torch computes in the promoted dtype inside the op and casts each gradient back to its
    # input's dtype; no ToCopyBackward0 appears in the graph
    torch = pytest.importorskip("torch")
    ours, theirs = _promotion_graphs(tg), _promotion_graphs(torch)
    for name in theirs:
        assert ours[name][:2] == theirs[name][:2], name
        for got, want in zip(ours[name][2:], theirs[name][2:]):
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)


def test_autograd_grad_returns_without_accumulating():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = tg.autograd.grad((x**2).sum(), x)
    np.testing.assert_array_equal(g.detach().numpy(), [2.0, 4.0])
    assert x.grad is None


def test_autograd_grad_unused_input():
    x = tg.ones(2, requires_grad=True)
    unused = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        tg.autograd.grad((x * 2).sum(), [x, unused])
    g = tg.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert g[1] is None


def test_autograd_grad_wrt_intermediate():
    x = tg.ones(2, requires_grad=True)
    h = x * 3
    out = (h * h).sum()
    (gh,) = tg.autograd.grad(out, h)
    np.testing.assert_array_equal(gh.detach().numpy(), [6.0, 6.0])


def test_second_derivative_of_cube():
    x = tg.tensor(2.0, requires_grad=True)
    (g,) = tg.autograd.grad(x**3, x, create_graph=True)
    assert g.item() == pytest.approx(12.0)
    (g2,) = tg.autograd.grad(g, x)
    assert g2.item() == pytest.approx(12.0)


def test_every_node_can_be_weakly_referenced():
    x = tg.ones(2, requires_grad=True)
    for out in (x + 1, x * 2, x.relu(), x.sum(), x[0]):
        assert weakref.ref(out.grad_fn)() is out.grad_fn


def _small_graphs(lib):
    """Node names under a few everyday expressions, and the gradients they give."""

    def names(node, depth=3):
        if node is None or depth == 0:
            return None
        return node.name().split("::")[-1], [names(n, depth - 1) for n, _ in node.next_functions]

    exprs = {
        "2 + x": lambda x: 2 + x,
        "2 * x": lambda x: 2 * x,
        "2 - x": lambda x: 2 - x,
        "2 / x": lambda x: 2 / x,
        "2 ** x": lambda x: 2**x,
        "x.sign()": lambda x: x.sign(),
        "x.reciprocal()": lambda x: x.reciprocal(),
        "x.T": lambda x: x.T,
    }
    found = {}
    for label, expr in exprs.items():
        x = lib.tensor([[1.0, 2.0], [3.0, -4.0]], requires_grad=True)
        out = expr(x)
        (out * out).sum().backward()
        found[label] = (names(out.grad_fn), np.round(x.grad.numpy(), 5).tolist())
    return found


def test_everyday_expressions_record_torch_graphs():
    # a Python number on the left of + and * still comes second, as torch records it
    torch = pytest.importorskip("torch")
    assert _small_graphs(tg) == _small_graphs(torch)


def _nan_subgradients(lib):
    nan = float("nan")
    found = {}
    for name in ("relu", "abs", "clamp", "sign"):
        x = lib.tensor([nan, -1.0, 0.0, 2.0], requires_grad=True)
        out = x.clamp(min=0) if name == "clamp" else getattr(x, name)()
        out.sum().backward()
        found[name] = [str(v) for v in x.grad.tolist()]
    for a, b in (([nan, 1.0, 2.0, 5.0], [1.0, nan, 2.0, 3.0]), ([nan, 1.0], [nan, 3.0])):
        for pick in (lib.maximum, lib.minimum):
            x, y = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
            pick(x, y).sum().backward()
            found[pick.__name__, str(a)] = (x.grad.tolist(), y.grad.tolist())
    for values in ([1.0, nan, 3.0], [nan, nan, 1.0]):
        for reduce in ("max", "min"):
            x = lib.tensor(values, requires_grad=True)
            getattr(x, reduce)().backward()  # the NaN elements share the gradient
            found[reduce, str(values)] = x.grad.tolist()
    return found


def test_nan_inputs_get_torch_subgradients():
    # relu passes the gradient of a NaN (torch's threshold_backward), abs gives it 0
    torch = pytest.importorskip("torch")
    assert _nan_subgradients(tg) == _nan_subgradients(torch)


def _grad_calls(lib):
    x = lib.ones(3, requires_grad=True)
    w = lib.ones(3, requires_grad=True)
    z = lib.ones(3)
    calls = {
        "output needs no grad": lambda: lib.autograd.grad(z.sum(), z),
        "second output needs no grad": lambda: lib.autograd.grad([(x * 2).sum(), z.sum()], [x]),
        "input needs no grad": lambda: lib.autograd.grad((x * 2).sum(), z),
        "unused input": lambda: lib.autograd.grad((x * 2).sum(), [x, w]),
        "no inputs": lambda: lib.autograd.grad((x * 2).sum(), []),
        "materialize without allow_unused": lambda: lib.autograd.grad(
            (x * 2).sum(), [x, w], allow_unused=False, materialize_grads=True
        ),
    }
    return calls


def test_autograd_grad_errors_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")
    assert call_outcomes(_grad_calls(tg)) == call_outcomes(_grad_calls(torch))


@pytest.mark.filterwarnings("ignore")  # numpy warns computing 0 ** -1 and log(0)
def test_pow_subgradients_at_zero_as_torch():
    torch = pytest.importorskip("torch")

    def grads(lib):
        a = lib.tensor([0.0, 0.0, 2.0, 0.0, 0.0, -2.0], requires_grad=True)
        e = lib.tensor([0.0, 2.0, 0.0, -1.0, 1.0, 0.5], requires_grad=True)
        (a**e).sum().backward()
        x = lib.tensor([0.0, -1.0, 2.0, float("nan")], requires_grad=True)
        (0.0**x).sum().backward()
        return [[str(v) for v in t.grad.tolist()] for t in (a, e, x)]

    assert grads(tg) == grads(torch)


def test_node_types_are_named_as_torch_names_them():
    torch = pytest.importorskip("torch")

    def type_names(lib):
        x = lib.ones(2, 2, requires_grad=True)
        out = (x * 2).exp().sum(0).mean()
        names, node = [], out.grad_fn
        while node is not None:
            names.append(type(node).__name__)
            node = node.next_functions[0][0] if node.next_functions else None
        return names

    assert type_names(tg) == type_names(torch)


def test_add_and_sub_with_alpha_record_one_node_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def graphs(lib):
        x = lib.ones(2, requires_grad=True)
        y = lib.ones(2, requires_grad=True)
        found = []
        for out in (lib.add(x, y, alpha=2), lib.sub(x, y, alpha=2), lib.add(x, 3, alpha=2)):
            below = [n and n.name().split("::")[-1] for n, _ in out.grad_fn.next_functions]
            found.append((out.grad_fn.name(), below, out.tolist()))
        z = x * 1
        z.add_(y, alpha=2)
        found.append((z.grad_fn.name(), z.tolist()))
        lib.sub(x, y, alpha=2).sum().backward()
        found.append((x.grad.tolist(), y.grad.tolist()))
        ints = lib.tensor([1, 2])
        found.append(call_outcomes({"float alpha on ints": lambda: lib.add(ints, ints, alpha=0.5)}))
        return found

    assert graphs(tg) == graphs(torch)


def test_backward_arguments_and_grad_assignment_errors_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def calls(lib):
        x = lib.ones(3, requires_grad=True)
        return {
            "list of floats as gradient": lambda: (x * 2).backward([1.0, 1.0, 1.0]),
            "a float as gradient": lambda: (x * 2).sum().backward(2.0),
            "a float as outputs": lambda: lib.autograd.grad(5.0, x),
            "gradient of another shape": lambda: (x * 2).backward(lib.ones(2)),
            ".grad of another size": lambda: setattr(x, "grad", lib.ones(2)),
            ".grad of a list": lambda: setattr(x, "grad", [1.0, 2.0, 3.0]),
        }

    ours, theirs = call_outcomes(calls(tg)), call_outcomes(calls(torch))
    theirs["gradient of another shape"] = (
        theirs["gradient of another shape"].replace("tapegrad.Size(", "").replace("])", "]")
    )  # tapegrad has no Size type: it prints the list
    assert ours == theirs
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient with dtype 'double' to a tensor with grad"):
        x.grad = tg.ones(3, dtype=tg.float64)


def test_second_backward_through_max_dim_and_index_raises_as_torch(call_outcomes):
    torch = pytest.importorskip("torch")

    def calls(lib):
        x = lib.ones(3, 2, requires_grad=True)
        by_max, by_index = x.max(0)[0].sum(), x[[0, 1]].sum()
        kept = x.max(1)[0].sum()
        by_max.backward()
        by_index.backward()
        kept.backward(retain_graph=True)
        return {
            "max(dim) again": by_max.backward,
            "index again": by_index.backward,
            "retained, again": kept.backward,
        }

    assert call_outcomes(calls(tg)) == call_outcomes(calls(torch))
