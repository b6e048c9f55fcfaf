"""narrow, split, chunk, unbind and unfold against torch: the pieces are views sharing one
multi-output node, gradients through some of the pieces, second order, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(1)
X = RNG.standard_normal((5, 4))


def _pair(array: np.ndarray, requires_grad: bool = False) -> tuple[tg.Tensor, torch.Tensor]:
    return (
        tg.tensor(array, requires_grad=requires_grad),
        torch.tensor(array, requires_grad=requires_grad),
    )


def _same(ours: tg.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


SPLITS = [
    lambda ns, t: t.split(2),
    lambda ns, t: t.split(2, 1),
    lambda ns, t: t.split(7),
    lambda ns, t: t.split([1, 3], 1),
    lambda ns, t: t.split((0, 4), dim=-1),
    lambda ns, t: ns.split(t, 3),
    lambda ns, t: ns.split(t, [2, 3]),
    lambda ns, t: ns.split_with_sizes(t, [2, 3]),
    lambda ns, t: t.chunk(2),
    lambda ns, t: t.chunk(3, 1),
    lambda ns, t: t.chunk(9, -1),
    lambda ns, t: ns.chunk(t, 2, dim=1),
    lambda ns, t: t.unbind(),
    lambda ns, t: t.unbind(-1),
    lambda ns, t: ns.unbind(t, dim=1),
]


@pytest.mark.parametrize("call", SPLITS, ids=range(len(SPLITS)))
@pytest.mark.parametrize("data", [X, np.arange(20).reshape(5, 4)], ids=["float64", "int64"])
def test_pieces_match_torch(call, data):
    pieces, tpieces = call(tg, tg.tensor(data)), call(torch, torch.tensor(data))
    assert isinstance(pieces, tuple)
    assert len(pieces) == len(tpieces)
    for piece, tpiece in zip(pieces, tpieces):
        _same(piece, tpiece)


@pytest.mark.parametrize("call", SPLITS, ids=range(len(SPLITS)))
def test_one_node_and_gradients_through_some_pieces(call):
    ours, theirs = _pair(X, requires_grad=True)
    pieces, tpieces = call(tg, ours), call(torch, theirs)
    assert len({id(p.grad_fn) for p in pieces}) == 1
    assert [p.grad_fn.name() for p in pieces] == [type(p.grad_fn).__name__ for p in tpieces]
    assert [p._output_nr for p in pieces] == [p.output_nr for p in tpieces]
    weights = RNG.standard_normal(len(pieces))
    loss = sum((float(w) * p**2).sum() for w, p in zip(weights, pieces) if w > 0)
    tloss = sum((float(w) * p**2).sum() for w, p in zip(weights, tpieces) if w > 0)
    if isinstance(loss, int):  # no piece chosen: use the last one alone
        loss, tloss = pieces[-1].sum(), tpieces[-1].sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_second_order_through_split():
    ours, theirs = _pair(X, requires_grad=True)
    for ns, t in ((tg, ours), (torch, theirs)):
        a, b, _ = t.split(2)
        y = (a**3).sum() + (b * a).sum()
        (g,) = ns.autograd.grad(y, t, create_graph=True)
        (g**2).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_pieces_are_views_and_share_the_version_counter():
    t = tg.tensor(X.copy())
    a, b = t.split([1, 4])
    rows = t.unbind(1)
    t.add_(1)
    np.testing.assert_array_equal(a.numpy(), X[:1] + 1)
    np.testing.assert_array_equal(rows[2].numpy(), X[:, 2] + 1)
    assert a._version == t._version == rows[0]._version


def test_split_under_no_grad_records_nothing():
    t = tg.tensor(X, requires_grad=True)
    with tg.no_grad():
        pieces = t.split(2)
    assert all(p.grad_fn is None and not p.requires_grad for p in pieces)


def test_retain_grad_on_a_piece():
    ours, theirs = _pair(X, requires_grad=True)
    for t in (ours, theirs):
        a, b = t.chunk(2, 1)
        b.retain_grad()
        (a * b).sum().backward()
        t._b = b
    np.testing.assert_allclose(ours._b.grad.numpy(), theirs._b.grad.numpy())


def test_chunk_of_an_empty_dimension_keeps_the_number_of_chunks():
    pieces = tg.zeros(0, 3, requires_grad=True).chunk(2)
    tpieces = torch.zeros(0, 3, requires_grad=True).chunk(2)
    assert [p.shape for p in pieces] == [tuple(p.shape) for p in tpieces]
    assert pieces[0].grad_fn.name() == type(tpieces[0].grad_fn).__name__


NARROWS = [
    lambda ns, t: t.narrow(1, 1, 2),
    lambda ns, t: t.narrow(-1, -2, 2),
    lambda ns, t: t.narrow(1, 4, 0),
    lambda ns, t: t.narrow(0, ns.tensor(1), 2),
    lambda ns, t: ns.narrow(t, 0, 1, 1),
    lambda ns, t: t.unfold(1, 2, 1),
    lambda ns, t: t.unfold(0, 2, 2),
    lambda ns, t: t.unfold(-1, 4, 1),
    lambda ns, t: t.unfold(0, 0, 1),
    lambda ns, t: t.unfold(dimension=1, size=2, step=3),
]


@pytest.mark.parametrize("call", NARROWS, ids=range(len(NARROWS)))
def test_narrow_and_unfold_match_torch(call):
    ours, theirs = _pair(X, requires_grad=True)
    out, tout = call(tg, ours), call(torch, theirs)
    _same(out, tout)
    assert out.grad_fn.name() == type(tout.grad_fn).__name__
    upstream = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    tout.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call", NARROWS, ids=range(len(NARROWS)))
def test_narrow_and_unfold_are_views(call):
    t = tg.tensor(X.copy())
    view = call(tg, t)
    t.mul_(2)
    np.testing.assert_array_equal(view.numpy(), call(tg, tg.tensor(X * 2)).numpy())


def test_unfold_of_a_scalar():
    for size, step in ((1, 1), (0, 1), (1, 5)):
        ours, theirs = _pair(np.array(2.5), requires_grad=True)
        out, tout = ours.unfold(0, size, step), theirs.unfold(0, size, step)
        _same(out, tout)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


def test_overlapping_unfold_refuses_in_place_writes():
    windows = tg.tensor(X.copy()).unfold(1, 2, 1)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        windows.add_(1)


ERRORS = [
    lambda ns, t: ns.tensor(1.0).split(1),
    lambda ns, t: t.split(-1, 1),
    lambda ns, t: t.split(0, 1),
    lambda ns, t: t.split(2, 5),
    lambda ns, t: t.split([1, 2], 1),
    lambda ns, t: t.split([1, 2], -1),
    lambda ns, t: t.split([1, -1, 4], 1),
    lambda ns, t: t.split([], 1),
    lambda ns, t: t.chunk(0),
    lambda ns, t: t.chunk(-1),
    lambda ns, t: ns.tensor(1.0).chunk(1),
    lambda ns, t: ns.tensor(1.0).unbind(),
    lambda ns, t: t.unbind(2),
    lambda ns, t: t.narrow(1, -5, 2),
    lambda ns, t: t.narrow(1, 3, 2),
    lambda ns, t: t.narrow(1, 5, 0),
    lambda ns, t: t.narrow(1, 1, -1),
    lambda ns, t: t.narrow(2, 1, 1),
    lambda ns, t: ns.tensor(1.0).narrow(0, 0, 1),
    lambda ns, t: t.unfold(0, 6, 1),
    lambda ns, t: t.unfold(0, 2, 0),
    lambda ns, t: t.unfold(0, 2, -1),
    lambda ns, t: t.unfold(0, -1, 1),
    lambda ns, t: t.unfold(2, 2, 1),
    lambda ns, t: ns.tensor(1.0).unfold(0, 2, 1),
]


@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call):
    ours, theirs = _pair(X)
    with pytest.raises(Exception) as expected:
        call(torch, theirs)
    message = str(expected.value).split("\n")[0]
    with pytest.raises(type(expected.value), match=re.escape(message)):
        call(tg, ours)
