"""tril, triu (and in place), diag, diagonal and diag_embed against torch: dtypes, views,
in-place rules, node names and errors (the registry covers values and gradients)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(2)
X = RNG.standard_normal((3, 4))


def _pair(array: np.ndarray, requires_grad: bool = False) -> tuple[tg.Tensor, torch.Tensor]:
    return (
        tg.tensor(array, requires_grad=requires_grad),
        torch.tensor(array, requires_grad=requires_grad),
    )


def _same(ours: tg.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


CALLS = [
    lambda ns, t: t.tril(),
    lambda ns, t: t.tril(-5),
    lambda ns, t: ns.tril(t, diagonal=2),
    lambda ns, t: t.triu(1),
    lambda ns, t: ns.triu(t, -1),
    lambda ns, t: t.diag(),
    lambda ns, t: t.diag(5),
    lambda ns, t: ns.diag(t, diagonal=-2),
    lambda ns, t: t[0].diag(),
    lambda ns, t: t[0].diag(-1),
    lambda ns, t: t.diagonal(),
    lambda ns, t: t.diagonal(offset=-1),
    lambda ns, t: t.diagonal(1, 1, 0),
    lambda ns, t: ns.diagonal(t, offset=7),
    lambda ns, t: t.diag_embed(),
    lambda ns, t: ns.diag_embed(t, 1, 0, 2),
    lambda ns, t: t.diag_embed(-2, -1, -2),
    lambda ns, t: t[0].diag_embed(),
]


@pytest.mark.parametrize("call", CALLS, ids=range(len(CALLS)))
@pytest.mark.parametrize(
    "data",
    [X, np.arange(12).reshape(3, 4), np.arange(12).reshape(3, 4) % 3 == 0],
    ids=["float64", "int64", "bool"],
)
def test_values_and_dtypes_match_torch(call, data):
    _same(call(tg, tg.tensor(data)), call(torch, torch.tensor(data)))


@pytest.mark.parametrize("call", CALLS, ids=range(len(CALLS)))
def test_node_and_gradient_match_torch(call):
    ours, theirs = _pair(X, requires_grad=True)
    out, tout = call(tg, ours), call(torch, theirs)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    upstream = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    tout.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_batched_and_3d_diagonals():
    data = RNG.standard_normal((2, 3, 4))
    for call in (
        lambda t: t.tril(1),
        lambda t: t.diagonal(0, -1, 0),
        lambda t: t.diagonal(1, 2, 1),
        lambda t: t.diagonal(-1, 0, 2),
        lambda t: t.diag_embed(1, 1, 3),
    ):
        ours, theirs = _pair(data, requires_grad=True)
        out, tout = call(ours), call(theirs)
        _same(out, tout)
        upstream = RNG.standard_normal(out.shape)
        out.backward(tg.tensor(upstream))
        tout.backward(torch.tensor(upstream))
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_diagonal_is_a_writable_view_and_diag_a_copy():
    t = tg.tensor(X.copy())
    view, copy = t.diagonal(1), t.diag(1)
    t.add_(1)
    np.testing.assert_array_equal(view.numpy(), np.diagonal(X, 1) + 1)
    np.testing.assert_array_equal(copy.numpy(), np.diagonal(X, 1))
    view.zero_()
    np.testing.assert_array_equal(np.diagonal(t.numpy(), 1), 0)
    assert t._version == view._version


def test_diag_of_an_empty_vector():
    _same(tg.zeros(0).diag(), torch.zeros(0).diag())


def test_second_order_through_diag_embed_and_diagonal():
    ours, theirs = _pair(X, requires_grad=True)
    for ns, t in ((tg, ours), (torch, theirs)):
        y = (t.diag_embed(1).tril(-1) ** 2).sum() + (t.diagonal() ** 3).sum()
        (g,) = ns.autograd.grad(y, t, create_graph=True)
        (g * g).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["tril_", "triu_"])
@pytest.mark.parametrize("k", [0, 1, -2])
def test_inplace_returns_self_and_bumps_the_version(name, k):
    ours, theirs = _pair(X)
    version = ours._version
    result = getattr(ours, name)(k)
    getattr(theirs, name)(k)
    assert result is ours
    assert ours._version == version + 1
    _same(ours, theirs)


@pytest.mark.parametrize("name", ["tril_", "triu_"])
def test_inplace_is_recorded_on_a_non_leaf(name):
    ours, theirs = _pair(X, requires_grad=True)
    outs = []
    for t in (ours, theirs):
        y = t * 2
        getattr(y, name)(1)
        outs.append(y)
        (y**2).sum().backward()
    assert outs[0].grad_fn.name() == type(outs[1].grad_fn).__name__
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("name", ["tril_", "triu_"])
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    ours, theirs = _pair(X, requires_grad=True)
    with pytest.raises(RuntimeError) as expected:
        getattr(theirs, name)()
    with pytest.raises(RuntimeError, match=re.escape(str(expected.value))):
        getattr(ours, name)()


ERRORS = [
    lambda ns, t: ns.tensor(1.0).tril(),
    lambda ns, t: t[0].triu(),
    lambda ns, t: t[0].tril_(),
    lambda ns, t: ns.tensor(1.0).diag(),
    lambda ns, t: t.unsqueeze(0).diag(),
    lambda ns, t: t.diagonal(0, 0, 0),
    lambda ns, t: t.diagonal(0, 0, -2),
    lambda ns, t: t.diagonal(0, 0, 2),
    lambda ns, t: t[0].diagonal(),
    lambda ns, t: t.diag_embed(0, 0, 0),
    lambda ns, t: t.diag_embed(0, 0, 3),
    lambda ns, t: t.diag_embed(0, 1, -2),
    lambda ns, t: ns.tensor(1.0).diag_embed(),
]


@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call):
    ours, theirs = _pair(X)
    with pytest.raises(Exception) as expected:
        call(torch, theirs)
    message = str(expected.value).split("\n")[0]
    with pytest.raises(type(expected.value), match=re.escape(message)):
        call(tg, ours)
