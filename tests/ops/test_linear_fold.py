"""F.linear's folded transpose (ops.linalg.LinearAddmm): the graph, hooks, double backward
and errors are torch's, as if ``TBackward0`` were a node of its own."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import functional as F
from tapegrad.ops.linalg import LinearAddmm


def _inputs(seed: int = 0, weight_grad: bool = True):
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3)), requires_grad=weight_grad)
    b = tg.tensor(rng.standard_normal(4), requires_grad=True)
    return x, w, b


def _torch_copies(torch, *tensors):
    return [torch.tensor(t.detach().numpy(), requires_grad=t.requires_grad) for t in tensors]


def _names(node, depth: int = 3):
    """The graph under ``node`` as nested (name, children) pairs, for comparing with torch."""
    if node is None:
        return None
    name = node.name().removeprefix("torch::autograd::")
    if depth == 0:
        return name
    return name, [_names(child, depth - 1) for child, _ in node.next_functions]


def test_linear_records_the_folded_node_and_shows_torchs_graph():
    x, w, b = _inputs()
    out = F.linear(x, w, b)
    node = out.grad_fn
    assert type(node) is LinearAddmm and node.name() == "AddmmBackward0"
    t_node, index = node.next_functions[2]
    assert (t_node.name(), index) == ("TBackward0", 0)
    assert node.next_functions[2][0] is t_node  # the same node at every look
    assert t_node.next_functions[0][0].variable is w
    assert node.next_functions[1][0].name() == "AccumulateGrad"


def test_graph_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _inputs()
    tx, tw, tb = _torch_copies(torch, x, w, b)
    ours = _names(F.linear(x, w, b).relu().sum().grad_fn, depth=5)
    theirs = _names(torch.nn.functional.linear(tx, tw, tb).relu().sum().grad_fn, depth=5)
    assert ours == theirs


def test_frozen_weight_has_no_transpose_node():
    x, w, b = _inputs(weight_grad=False)
    out = F.linear(x, w, b)
    assert out.grad_fn.next_functions[2] == (None, 0)
    out.sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad.detach().numpy(), np.tile(w.detach().numpy().sum(0), (5, 1)))


def test_gradients_equal_the_unfolded_graph():
    x, w, b = _inputs()
    F.linear(x, w, b).pow(2).sum().backward()
    folded = [t.grad.detach().numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    b.addmm(x, w.t()).pow(2).sum().backward()  # the generic path: a real TBackward0 node
    for got, t in zip(folded, (x, w, b)):
        np.testing.assert_array_equal(got, t.grad.detach().numpy())


def test_hooks_on_the_transpose_node_run_as_in_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _inputs()
    tx, tw, tb = _torch_copies(torch, x, w, b)
    seen: dict[str, list] = {"ours": [], "theirs": []}

    def run(lin, inputs, key, as_array):
        out = lin(*inputs)
        t_node = out.grad_fn.next_functions[2][0]
        t_node.register_prehook(lambda grads: (grads[0] * 2,))

        def post(grad_inputs, grad_outputs):
            seen[key].append([as_array(g) for g in (*grad_inputs, *grad_outputs)])
            return (grad_inputs[0] + 1,)

        t_node.register_hook(post)
        out.pow(2).sum().backward()

    run(F.linear, (x, w, b), "ours", lambda g: g.detach().numpy())
    run(torch.nn.functional.linear, (tx, tw, tb), "theirs", lambda g: g.detach().numpy())
    for ours, theirs in zip(seen["ours"][0], seen["theirs"][0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad.detach().numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_hook_registered_on_the_transpose_node_during_backward_runs():
    x, w, b = _inputs()
    out = F.linear(x, w, b)
    loss = out.sum()
    t_node = out.grad_fn.next_functions[2][0]
    calls = []

    def register_late(grad):
        t_node.register_prehook(lambda grads: calls.append(grads[0].shape))

    out.register_hook(register_late)
    loss.backward()
    assert calls == [(3, 4)]


def test_retained_graph_runs_twice_with_hooks():
    x, w, b = _inputs()
    out = F.linear(x, w, b)
    calls = []
    out.grad_fn.next_functions[2][0].register_prehook(lambda grads: calls.append(1))
    out.sum().backward(retain_graph=True)
    first = w.grad.detach().numpy().copy()
    out.sum().backward()
    np.testing.assert_allclose(w.grad.detach().numpy(), 2 * first)
    assert calls == [1, 1]


def test_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _inputs()
    tx, tw, tb = _torch_copies(torch, x, w, b)
    (gw, gx) = tg.autograd.grad(F.linear(x, w, b).tanh().sum(), (w, x), create_graph=True)
    (tgw, tgx) = torch.autograd.grad(
        torch.nn.functional.linear(tx, tw, tb).tanh().sum(), (tw, tx), create_graph=True
    )
    ((gw**2).sum() + (gx**2).sum()).backward()
    ((tgw**2).sum() + (tgx**2).sum()).backward()
    for ours, theirs in ((gw, tgw), (gx, tgx), (x.grad, tx.grad), (w.grad, tw.grad)):
        np.testing.assert_allclose(
            ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12
        )


def test_double_backward_after_the_weight_is_freed():
    x, _, b = _inputs()
    rng = np.random.default_rng(1)
    out = F.linear(x, tg.tensor(rng.standard_normal((4, 3)), requires_grad=True), b)
    (gx,) = tg.autograd.grad(out.tanh().sum(), (x,), create_graph=True)
    gx.sum().backward()  # reaches the freed weight through its accumulator
    assert x.grad is not None and x.grad.shape == (5, 3)


def test_computed_weight_gets_its_gradient_through_the_fold():
    torch = pytest.importorskip("torch")
    x, v, b = _inputs()
    tx, tv, tb = _torch_copies(torch, x, v, b)
    out = F.linear(x, v * 2, b)
    assert _names(out.grad_fn, 3) == _names(torch.nn.functional.linear(tx, tv * 2, tb).grad_fn, 3)
    out.pow(2).sum().backward()
    torch.nn.functional.linear(tx, tv * 2, tb).pow(2).sum().backward()
    np.testing.assert_allclose(v.grad.detach().numpy(), tv.grad.numpy(), rtol=1e-12)


def test_weight_changed_in_place_is_reported_as_by_the_unfolded_graph():
    messages = []
    for lin in (F.linear, lambda x, w, b: b.addmm(x, w.t())):
        x = tg.ones(5, 3, requires_grad=True)
        w = tg.ones(4, 3, requires_grad=True)
        out = lin(x, w, tg.zeros(4))
        with tg.no_grad():
            w.add_(1)
        with pytest.raises(RuntimeError) as info:
            out.sum().backward()
        messages.append(str(info.value))
    # torch names the view's regenerated grad_fn (AsStridedBackward0) here; we keep the T node
    assert "[tapegrad.float32 [3, 4]], which is output 0 of T, is at version 1" in (messages[0])
    assert messages[0] == messages[1]


def test_autograd_grad_of_the_weight_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _inputs()
    tx, tw, tb = _torch_copies(torch, x, w, b)
    (gw,) = tg.autograd.grad(F.linear(x, w, b).sum(), (w,))
    (tgw,) = torch.autograd.grad(torch.nn.functional.linear(tx, tw, tb).sum(), (tw,))
    np.testing.assert_allclose(gw.detach().numpy(), tgw.numpy(), rtol=1e-12)
    assert w.grad is None


@pytest.mark.parametrize(
    "case", ["anomaly", "no_grad", "dtype", "bias_shape"], ids=lambda c: c.replace("_", " ")
)
def test_cases_the_fold_leaves_to_the_generic_path(case):
    x, w, b = _inputs()
    if case == "anomaly":
        with tg.autograd.detect_anomaly():
            out = F.linear(x, w, b)
        assert type(out.grad_fn) is not LinearAddmm
        assert out.grad_fn.next_functions[2][0]._trace is not None
    elif case == "no_grad":
        with tg.no_grad():
            assert F.linear(x, w, b).grad_fn is None
    elif case == "dtype":
        with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
            F.linear(x.float(), w, b)
    else:
        with pytest.raises(RuntimeError, match="The expanded size of the tensor must match"):
            F.linear(x, w, tg.zeros(5, 5, dtype=tg.float64))


@pytest.mark.parametrize(
    "dtypes",
    [
        ("float64", "float32", "float64"),
        ("float32", "float64", "float64"),
        ("float64", "float32", "float32"),
        ("float32", "float32", "float64"),
    ],
    ids="-".join,
)
def test_addmm_and_linear_refuse_mixed_dtypes_as_torch(dtypes):
    torch = pytest.importorskip("torch")
    bias, mat1, weight = dtypes
    messages = []
    for ns, lin in ((tg, F.linear), (torch, torch.nn.functional.linear)):
        x = ns.ones(5, 3, dtype=getattr(ns, mat1))
        w = ns.ones(4, 3, dtype=getattr(ns, weight), requires_grad=True)
        b = ns.zeros(4, dtype=getattr(ns, bias))
        with pytest.raises(RuntimeError) as info:
            lin(x, w, b)
        messages.append(str(info.value))
        with pytest.raises(RuntimeError) as info:
            b.addmm(x, w.t())
        messages.append(str(info.value))
    assert messages[:2] == messages[2:]
