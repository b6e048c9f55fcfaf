"""gather, scatter, scatter_add and scatter_reduce against torch: argument checks and their
messages, integer and bool dtypes, 0-d and empty indices, in-place forms, ties and the
legacy ``reduce=`` of scatter (the registry covers values and gradients of float inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from compare_torch import assert_same, assert_same_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import tapegrad as tg

torch = pytest.importorskip("torch")

A = np.arange(12.0).reshape(3, 4)
IDX = [[0, 1], [2, 0]]


def _a(ns, dtype=None):
    return ns.tensor(A, dtype=dtype or ns.float32)


def _i(ns, data=IDX, dtype=None):
    return ns.tensor(data, dtype=dtype or ns.int64)


CASES = {
    # gather
    "gather int32 index": lambda ns: _a(ns).gather(1, _i(ns, dtype=ns.int32)),
    "gather float index": lambda ns: _a(ns).gather(1, _i(ns, dtype=ns.float32)),
    "gather too big": lambda ns: _a(ns).gather(1, _i(ns, [[0, 4]])),
    "gather negative": lambda ns: _a(ns).gather(1, _i(ns, [[0, -1]])),
    "gather rows": lambda ns: _a(ns).gather(1, ns.zeros(5, 2, dtype=ns.int64)),
    "gather ndim": lambda ns: _a(ns).gather(1, ns.zeros(2, 2, 2, dtype=ns.int64)),
    "gather dim": lambda ns: _a(ns).gather(2, _i(ns)),
    "gather dim float index": lambda ns: _a(ns).gather(-3, _i(ns, dtype=ns.float32)),
    "gather empty": lambda ns: _a(ns).gather(1, ns.zeros(5, 0, 3)),
    "gather 0-d": lambda ns: ns.tensor(2.5).gather(0, ns.tensor(0)),
    "gather 0-d vector index": lambda ns: ns.tensor(2.5).gather(-1, ns.tensor([0, 0])),
    "gather vector 0-d index": lambda ns: ns.tensor([1.0, 2.0]).gather(0, ns.tensor(1)),
    "gather 0-d out of range": lambda ns: ns.tensor(2.5).gather(0, ns.tensor(1)),
    "gather int self": lambda ns: ns.tensor([[1, 2], [3, 4]]).gather(0, _i(ns, [[1, 0]])),
    "gather list index": lambda ns: _a(ns).gather(1, [[0]]),
    "gather function": lambda ns: ns.gather(_a(ns), dim=1, index=_i(ns)),
    # scatter
    "scatter float index": lambda ns: _a(ns).scatter(1, _i(ns, dtype=ns.float32), 1.0),
    "scatter int32 index": lambda ns: _a(ns).scatter(1, _i(ns, dtype=ns.int32), 1.0),
    "scatter src dtype": lambda ns: _a(ns).scatter(1, _i(ns), ns.ones(2, 2, dtype=ns.float64)),
    "scatter ndim self": lambda ns: _a(ns).scatter(1, ns.zeros(2, 2, 2, dtype=ns.int64), 1.0),
    "scatter ndim src": lambda ns: _a(ns).scatter(1, _i(ns), ns.tensor(1.0)),
    "scatter size value": lambda ns: _a(ns).scatter(1, ns.zeros(4, 2, dtype=ns.int64), 1.0),
    "scatter size src": lambda ns: _a(ns).scatter(1, ns.zeros(3, 5, dtype=ns.int64), ns.ones(3, 3)),
    "scatter bounds": lambda ns: _a(ns).scatter(1, _i(ns, [[0, 4]]), 1.0),
    "scatter negative": lambda ns: _a(ns).scatter(1, _i(ns, [[0, -1]]), 1.0),
    "scatter dim": lambda ns: _a(ns).scatter(5, _i(ns, dtype=ns.float32), 1.0),
    "scatter empty": lambda ns: _a(ns).scatter(1, ns.zeros(5, 0, 3), 1.0),
    "scatter int value": lambda ns: ns.tensor([1, 2, 3]).scatter(0, ns.tensor([0]), 2.7),
    "scatter bool self": lambda ns: ns.tensor([True, False]).scatter(0, ns.tensor([1]), True),
    "scatter int into float": lambda ns: ns.zeros(3).scatter(0, ns.tensor([0]), 2),
    "scatter value overflow": lambda ns: ns.zeros(3).scatter(0, ns.tensor([0]), 1e300),
    "scatter src keyword": lambda ns: ns.zeros(3).scatter(0, ns.tensor([2]), src=ns.ones(3)),
    "scatter value keyword": lambda ns: ns.zeros(3).scatter(dim=0, index=ns.tensor([0]), value=2.0),
    "scatter 0-d src": lambda ns: ns.zeros(3).scatter(0, ns.tensor([1]), ns.tensor(2.0)),
    "scatter reduce add": lambda ns: _a(ns).scatter(1, _i(ns), 2.0, reduce="add"),
    "scatter reduce multiply": lambda ns: _a(ns).scatter(1, _i(ns), 2.0, reduce="multiply"),
    "scatter reduce bad": lambda ns: _a(ns).scatter(1, _i(ns), 2.0, reduce="sum"),
    "scatter reduce bad src": lambda ns: _a(ns).scatter(1, _i(ns), ns.ones(2, 2), reduce="mean"),
    # scatter_add
    "scatter_add": lambda ns: _a(ns).scatter_add(1, _i(ns, [[0, 0], [3, 3]]), ns.ones(2, 3)),
    "scatter_add size": lambda ns: _a(ns).scatter_add(1, _i(ns), ns.ones(1, 1)),
    "scatter_add dtype": lambda ns: _a(ns).scatter_add(1, _i(ns), ns.ones(3, 3).double()),
    "scatter_add bounds": lambda ns: _a(ns).scatter_add(1, _i(ns, [[4]]), ns.ones(3, 3)),
    "scatter_add int": lambda ns: (
        ns.zeros(3).long().scatter_add(0, ns.tensor([0, 0]), ns.tensor([1, 2]))
    ),
    "scatter_add bool": lambda ns: ns.tensor([True, False]).scatter_add(
        0, ns.tensor([1, 1]), ns.tensor([False, True])
    ),
    "scatter_add 0-d src": lambda ns: ns.zeros(3).scatter_add(0, ns.tensor([0, 0]), ns.tensor(2.0)),
    "scatter_add not a tensor": lambda ns: ns.zeros(3).scatter_add(0, ns.tensor([0]), 1.0),
    # scatter_reduce
    "scatter_reduce bad": lambda ns: _a(ns).scatter_reduce(1, _i(ns), ns.ones(2, 2), "add"),
    "scatter_reduce max alias": lambda ns: _a(ns).scatter_reduce(1, _i(ns), ns.ones(2, 2), "max"),
    "scatter_reduce min alias": lambda ns: _a(ns).scatter_reduce(0, _i(ns), ns.ones(2, 2), "min"),
    "scatter_reduce dtype first": lambda ns: _a(ns).scatter_reduce(
        1, _i(ns), ns.ones(2, 2).double(), "max"
    ),
    "scatter_reduce index first": lambda ns: _a(ns).scatter_reduce(
        1, _i(ns).float(), ns.ones(2, 2).double(), "max"
    ),
    "scatter_reduce value": lambda ns: _a(ns).scatter_reduce(1, _i(ns), 2.0, "sum"),
    "scatter_reduce int mean": lambda ns: ns.tensor([1, 2, 3]).scatter_reduce(
        0, ns.tensor([0, 0]), ns.tensor([4, 5]), "mean"
    ),
    "scatter_reduce int mean floor": lambda ns: ns.tensor([1, 2, 3]).scatter_reduce(
        0, ns.tensor([0, 0]), ns.tensor([-4, -7]), "mean", include_self=False
    ),
    "scatter_reduce int amax": lambda ns: ns.tensor([1, 2, 3]).scatter_reduce(
        0, ns.tensor([1, 1]), ns.tensor([-4, -7]), "amax", include_self=False
    ),
    "scatter_reduce int amin": lambda ns: ns.tensor([1, 2, 3]).scatter_reduce(
        0, ns.tensor([2, 1]), ns.tensor([4, 7]), "amin", include_self=False
    ),
    "scatter_reduce prod": lambda ns: ns.tensor([1, 2, 3]).scatter_reduce(
        0, ns.tensor([2, 2]), ns.tensor([4, 7]), "prod", include_self=False
    ),
    "scatter_reduce bool mean": lambda ns: ns.tensor([True, False]).scatter_reduce(
        0, ns.tensor([0, 0]), ns.tensor([False, True]), "mean"
    ),
    "scatter_reduce empty": lambda ns: _a(ns).scatter_reduce(
        1, ns.zeros(5, 0, dtype=ns.int64), ns.ones(2, 2), "amax"
    ),
    "scatter_reduce function": lambda ns: ns.scatter_reduce(
        _a(ns), 0, _i(ns), ns.ones(2, 2), reduce="amin", include_self=False
    ),
}


@pytest.mark.filterwarnings("ignore:The reduce argument")
@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    assert_same(CASES[name])


def test_scatter_reduce_legacy_has_no_derivative():
    a = tg.zeros(2, 3, requires_grad=True)
    with pytest.warns(UserWarning, match="reduce argument of tapegrad.scatter"):
        out = a.scatter(1, tg.tensor([[0, 0]]), tg.ones(1, 2), reduce="add")
    assert out.grad_fn.name() == "NotImplemented"
    np.testing.assert_array_equal(out.detach().numpy(), [[2, 0, 0], [0, 0, 0]])
    with pytest.raises(RuntimeError, match="derivative for aten::scatter is not implemented"):
        out.sum().backward()


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["amax", "amin", "mean", "sum", "prod"])
def test_scatter_reduce_ties_and_counts_as_torch(reduce, include_self):
    # ties between self and src and within src share the gradient, as torch
    src = np.array([[1.0, 5.0, 5.0], [3.0, 3.0, 0.5]])
    base = np.array([[5.0, 1.0, 2.0, 3.0], [0.5, 3.0, 2.0, 1.0]])
    idx = np.array([[0, 0, 2], [1, 1, 0]])
    assert_same_grads(
        lambda ns, b, s: b.scatter_reduce(
            1, ns.from_numpy(idx), s, reduce, include_self=include_self
        ),
        base,
        src,
    )


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize(
    "base, src",
    [
        ([[0.0, 2.0, 3.0]], [[2.0, 0.5, 4.0]]),  # a zero in self
        ([[1.5, 2.0, 3.0]], [[0.0, 0.5, 4.0]]),  # one zero scattered to a position
        ([[1.5, 2.0, 3.0]], [[0.0, 0.0, 4.0]]),  # two zeros at the same position
        ([[0.0, 2.0, 3.0]], [[0.0, 3.0, 0.0]]),  # zeros everywhere
    ],
)
def test_scatter_reduce_prod_with_zeros_as_torch(base, src, include_self):
    assert_same_grads(
        lambda ns, b, s: b.scatter_reduce(
            1, ns.tensor([[0, 0, 2]]), s, "prod", include_self=include_self
        ),
        np.array(base),
        np.array(src),
    )


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_scatter_reduce_aliases_have_no_backward_as_torch(reduce):
    def call(ns):
        a = ns.zeros(3, requires_grad=True)
        a.scatter_reduce(0, ns.tensor([0, 0]), ns.ones(2), reduce).sum().backward()

    assert_same(call)


def test_gather_empty_index_gives_zero_gradient():
    assert_same_grads(lambda ns, a: a.gather(0, ns.zeros(0, 4, dtype=ns.int64)), A)


def test_gather_second_order_matches_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    grads = []
    for ns in (tg, torch):
        leaf = ns.tensor(x, requires_grad=True)
        y = (leaf.gather(1, ns.tensor(IDX)) ** 3).sum()
        (g,) = ns.autograd.grad(y, leaf, create_graph=True)
        (gg,) = ns.autograd.grad(g.sum(), leaf)
        grads.append(gg.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_second_backward_through_gather_raises():
    a = tg.randn(3, 4, requires_grad=True)
    out = a.gather(1, tg.tensor(IDX)).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()


def test_scatter_src_bigger_than_index_fails_in_backward_as_torch():
    def call(ns):
        a, s = ns.zeros(3, 4, requires_grad=True), ns.ones(3, 3, requires_grad=True)
        a.scatter_add(1, ns.tensor(IDX), s).sum().backward()

    assert_same(call)


# ------------------------------------------------------------------ in-place forms

INPLACE = {
    "scatter_ value": lambda ns, t, s: t.scatter_(1, ns.tensor(IDX), 2.0),
    "scatter_ src": lambda ns, t, s: t.scatter_(1, ns.tensor(IDX), s),
    "scatter_add_": lambda ns, t, s: t.scatter_add_(1, ns.tensor([[0, 0], [3, 3]]), s),
    "scatter_reduce_": lambda ns, t, s: t.scatter_reduce_(
        1, ns.tensor([[0, 0], [3, 3]]), s, "amax", include_self=False
    ),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_on_a_non_leaf_is_recorded_as_torch(name):
    src = np.array([[0.5, -1.0], [2.0, 3.0]])
    assert_same_grads(lambda ns, a, s: INPLACE[name](ns, a * 2, s), A, src)


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_returns_self_and_bumps_the_version(name):
    t = tg.tensor(A)
    before = t._version
    out = INPLACE[name](tg, t, tg.ones(2, 2, dtype=tg.float64))
    assert out is t
    assert t._version == before + 1
    expected = INPLACE[name](torch, torch.tensor(A), torch.ones(2, 2, dtype=torch.float64))
    np.testing.assert_array_equal(t.numpy(), expected.numpy())


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    assert_same(lambda ns: INPLACE[name](ns, ns.tensor(A, requires_grad=True), ns.ones(2, 2)))


def test_inplace_keeps_argument_errors():
    assert_same(lambda ns: ns.zeros(3).scatter_(0, ns.tensor([0.0]), 1.0))
    assert_same(lambda ns: ns.zeros(3).scatter_add_(0, ns.tensor([0]), 1.0))


def test_inplace_records_a_src_that_requires_grad():
    assert_same_grads(
        lambda ns, s: ns.zeros(4, dtype=ns.float64).scatter_add_(0, ns.tensor([1, 1]), s), A[0, :2]
    )


# ------------------------------------------------------------------ drawn shapes

ALONG = {
    "gather": lambda ns, a, s, dim, idx: a.gather(dim, idx),
    "scatter_add": lambda ns, a, s, dim, idx: a.scatter_add(dim, idx, s),
    "scatter_reduce mean": lambda ns, a, s, dim, idx: a.scatter_reduce(
        dim, idx, s, "mean", include_self=False
    ),
    "scatter_reduce amax": lambda ns, a, s, dim, idx: a.scatter_reduce(dim, idx, s, "amax"),
}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    shape=array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
    name=st.sampled_from(sorted(ALONG)),
    data=st.data(),
)
def test_ops_along_a_dim_match_torch_on_drawn_shapes(shape, name, data):
    ndim = max(len(shape), 1)
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    full = shape or (1,)
    axis = dim % ndim
    # index: no larger than self off ``dim``; any length (0 included) along it
    index_shape = tuple(
        data.draw(st.integers(0 if d == axis else 1, 5 if d == axis else s))
        for d, s in enumerate(full)
    )
    if not shape and index_shape == (1,):
        index_shape = ()  # a 0-d self with a 0-d index
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, full[axis], size=index_shape)
    base = rng.standard_normal(shape)
    src = rng.standard_normal(index_shape)

    def call(ns, a, s):
        return ALONG[name](ns, a, s, dim, ns.from_numpy(idx) if ns is tg else torch.from_numpy(idx))

    if name == "gather":
        assert_same_grads(lambda ns, a: call(ns, a, None), base)
    else:
        assert_same_grads(call, base, src)
