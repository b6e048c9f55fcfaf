"""flip, roll, repeat, tile, repeat_interleave, unflatten, movedim and swapaxes against torch:
dtypes, function forms, views, node chains and error messages (the registry covers values
and gradients of float inputs)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
INTS = np.arange(12, dtype=np.int64).reshape(3, 4)


def _pair(array: np.ndarray, requires_grad: bool = False) -> tuple[tg.Tensor, torch.Tensor]:
    return (
        tg.tensor(array, requires_grad=requires_grad),
        torch.tensor(array, requires_grad=requires_grad),
    )


def _same(ours: tg.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


def _chain(t: object) -> list[str]:
    names, node = [], t.grad_fn
    while node is not None and node.name() != "AccumulateGrad":
        names.append(node.name())
        node = node.next_functions[0][0]
    return names


def _torch_chain(t: torch.Tensor) -> list[str]:
    names, node = [], t.grad_fn
    while node is not None and type(node).__name__ != "AccumulateGrad":
        names.append(type(node).__name__)
        node = node.next_functions[0][0]
    return names


CALLS = [
    lambda ns, t: t.flip(0, 1),
    lambda ns, t: t.flip([]),
    lambda ns, t: ns.flip(t, [1]),
    lambda ns, t: t.roll(1),
    lambda ns, t: t.roll((1, -2), (0, 1)),
    lambda ns, t: ns.roll(t, shifts=-1, dims=-1),
    lambda ns, t: t.repeat(2, 1, 3),
    lambda ns, t: t.repeat((0, 2)),
    lambda ns, t: t.tile(2),
    lambda ns, t: ns.tile(t, (2, 1)),
    lambda ns, t: t.tile(()),
    lambda ns, t: t.repeat_interleave(2),
    lambda ns, t: t.repeat_interleave(3, dim=-1),
    lambda ns, t: ns.repeat_interleave(t, 0, dim=0),
    lambda ns, t: t.repeat_interleave(ns.tensor([1, 0, 2]), dim=0),
    lambda ns, t: t.repeat_interleave(ns.tensor([1, 0, 2, 1], dtype=ns.int32), dim=1),
    lambda ns, t: t.repeat_interleave(ns.tensor(2)),
    lambda ns, t: t.repeat_interleave(ns.tensor([2]), dim=1, output_size=8),
    lambda ns, t: t.unflatten(1, (2, 2)),
    lambda ns, t: ns.unflatten(t, -1, [-1, 1]),
    lambda ns, t: t.movedim(0, 1),
    lambda ns, t: ns.movedim(t, (0, 1), (1, 0)),
    lambda ns, t: ns.moveaxis(t, -1, 0),
    lambda ns, t: t.moveaxis(1, 0),
    lambda ns, t: t.swapaxes(0, 1),
    lambda ns, t: ns.swapaxes(t, 1, 0),
    lambda ns, t: t.swapdims(0, -1),
    lambda ns, t: ns.swapdims(t, 0, 1),
    lambda ns, t: t.flip(dims=[0]),
    lambda ns, t: ns.flip(t, dims=(0, 1)),
    lambda ns, t: t.repeat(repeats=(2, 2)),
    lambda ns, t: t.tile(dims=(2,)),
    lambda ns, t: ns.tile(t, dims=(2, 1, 1)),
    lambda ns, t: t.roll(shifts=1, dims=0),
    lambda ns, t: t.repeat_interleave(repeats=2, dim=0),
    lambda ns, t: ns.repeat_interleave(input=t, repeats=2),
    lambda ns, t: ns.narrow(input=t, dim=0, start=1, length=2),
    lambda ns, t: t.movedim(source=0, destination=1),
]


@pytest.mark.parametrize("call", CALLS, ids=range(len(CALLS)))
@pytest.mark.parametrize("data", [X, INTS, INTS > 5], ids=["float64", "int64", "bool"])
def test_values_and_dtypes_match_torch(call, data):
    ours, theirs = _pair(data)
    _same(call(tg, ours), call(torch, theirs))


@pytest.mark.parametrize("call", CALLS, ids=range(len(CALLS)))
def test_node_chain_and_gradient_match_torch(call):
    ours, theirs = _pair(X, requires_grad=True)
    out, tout = call(tg, ours), call(torch, theirs)
    assert _chain(out) == _torch_chain(tout)
    upstream = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    tout.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


SCALAR_CALLS = [
    lambda ns, t: t.flip(0),
    lambda ns, t: t.flip(-1),
    lambda ns, t: t.roll(3),
    lambda ns, t: t.repeat(3),
    lambda ns, t: t.repeat(2, 2),
    lambda ns, t: t.tile(2),
    lambda ns, t: t.repeat_interleave(2),
    lambda ns, t: t.movedim(0, 0),
    lambda ns, t: t.swapaxes(0, -1),
]


@pytest.mark.parametrize("call", SCALAR_CALLS, ids=range(len(SCALAR_CALLS)))
def test_zero_dim_inputs(call):
    ours, theirs = _pair(np.array(1.5), requires_grad=True)
    out, tout = call(tg, ours), call(torch, theirs)
    _same(out, tout)
    assert _chain(out) == _torch_chain(tout)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


def test_empty_inputs():
    for call in (lambda t: t.flip(0), lambda t: t.roll(2, 0), lambda t: t.repeat(2, 3)):
        ours, theirs = _pair(np.zeros((0, 3)))
        _same(call(ours), call(theirs))


VIEWS = [
    lambda t: t.unflatten(1, (2, 2)),
    lambda t: t.movedim(0, 1),
    lambda t: t.swapaxes(0, 1),
]


@pytest.mark.parametrize("view", VIEWS, ids=range(len(VIEWS)))
def test_view_ops_share_memory(view):
    t = tg.tensor(X.copy())
    v = view(t)
    t.add_(1)
    np.testing.assert_array_equal(v.numpy(), view(tg.tensor(X + 1)).numpy())


def test_flip_roll_repeat_copy():
    t = tg.tensor(X.copy())
    outs = [t.flip(0), t.roll(1, 0), t.repeat(1, 1), t.tile((1,))]
    before = [o.numpy().copy() for o in outs]
    t.add_(1)
    for out, old in zip(outs, before):
        np.testing.assert_array_equal(out.numpy(), old)


def test_repeat_interleave_counts_alone():
    counts = [2, 0, 3]
    _same(tg.repeat_interleave(tg.tensor(counts)), torch.repeat_interleave(torch.tensor(counts)))
    for ns in (tg, torch):
        with pytest.raises(RuntimeError, match="repeat_interleave only accept 1D vector as repeat"):
            ns.repeat_interleave(ns.tensor(2))


def test_second_order_through_repeat_and_roll():
    ours, theirs = _pair(X, requires_grad=True)
    for ns, t in ((tg, ours), (torch, theirs)):
        y = (t.roll(1, 0).repeat(2, 1) ** 3).sum()
        (g,) = ns.autograd.grad(y, t, create_graph=True)
        g.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


ERRORS = [
    lambda ns, t: t.flip(),
    lambda ns, t: t.flip(0, 0),
    lambda ns, t: t.flip(2),
    lambda ns, t: t.roll((1, 2), 0),
    lambda ns, t: t.roll((1,), (0, 1)),
    lambda ns, t: t.roll(1, 5),
    lambda ns, t: t.roll([]),
    lambda ns, t: ns.tensor(2.0).roll(1, 0),
    lambda ns, t: t.repeat(2),
    lambda ns, t: t.repeat(-1, 2),
    lambda ns, t: t.repeat(),
    lambda ns, t: t.tile(-1),
    lambda ns, t: t.repeat_interleave(-1, dim=0),
    lambda ns, t: t.repeat_interleave(2, dim=2),
    lambda ns, t: ns.tensor(2.0).repeat_interleave(2, 0),
    lambda ns, t: t.repeat_interleave(ns.tensor([1, 2]), dim=0),
    lambda ns, t: t.repeat_interleave(ns.tensor([1, -2, 0]), dim=0),
    lambda ns, t: t.repeat_interleave(ns.tensor([1.0, 2, 0]), dim=0),
    lambda ns, t: t.repeat_interleave(ns.tensor([[1, 2, 0]]), dim=0),
    lambda ns, t: t.unflatten(1, (3, 2)),
    lambda ns, t: t.unflatten(1, ()),
    lambda ns, t: t.unflatten(2, (2, 2)),
    lambda ns, t: t.unflatten(1, (0, -1)),
    lambda ns, t: t.movedim((0,), (1, 0)),
    lambda ns, t: t.movedim((0, 0), (1, 0)),
    lambda ns, t: t.movedim((0, 1), (1, 1)),
    lambda ns, t: t.movedim(0, 2),
    lambda ns, t: t.swapaxes(0, 2),
    lambda ns, t: t.repeat_interleave(ns.tensor([1, 2, 0]), dim=0, output_size=4),
    lambda ns, t: t.repeat_interleave(2, dim=0, output_size=5),
    lambda ns, t: ns.repeat_interleave(ns.tensor([1, 2]), output_size=5),
]


@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call):
    ours, theirs = _pair(X)
    with pytest.raises(Exception) as expected:
        call(torch, theirs)
    message = str(expected.value).split("\n")[0]
    with pytest.raises(type(expected.value), match=re.escape(message)):
        call(tg, ours)


@pytest.mark.parametrize(
    ("sizes", "detail"),
    [((-1, -1), "only one dimension can be inferred"), ((-2, -2), "invalid shape dimension -2")],
)
def test_unflatten_inference_errors(sizes, detail):
    with pytest.raises(RuntimeError, match="unflatten got an unexpected error:\n" + detail):
        tg.tensor(X).unflatten(1, sizes)
    with pytest.raises(RuntimeError, match="unflatten got an unexpected error:\n" + detail):
        torch.tensor(X).unflatten(1, sizes)


def test_movedim_mixed_argument_kinds_are_a_type_error():
    with pytest.raises(TypeError, match=r"movedim\(\) received an invalid combination"):
        tg.tensor(X).movedim(0, (1,))
