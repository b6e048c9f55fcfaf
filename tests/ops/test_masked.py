"""masked_fill, masked_select, masked_scatter, nonzero and nn.functional.one_hot against
torch: mask dtypes and broadcasting, values of other dtypes, errors and their messages,
in-place forms (the registry covers values and gradients of float inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from compare_torch import assert_same, assert_same_grads

import tapegrad as tg

torch = pytest.importorskip("torch")

A = np.arange(12.0).reshape(3, 4) - 5
ROW = [True, False, True, False]


def _a(ns, data=A):
    return ns.tensor(data, dtype=ns.float32)


def _m(ns, data=ROW, dtype=None):
    return ns.tensor(data, dtype=dtype or ns.bool)


def _f(ns):
    return ns.nn.functional


CASES = {
    # masked_fill
    "fill": lambda ns: _a(ns).masked_fill(_m(ns), 2.0),
    "fill bigger mask": lambda ns: _a(ns).masked_fill(ns.ones(2, 3, 4, dtype=ns.bool), 2.0),
    "fill bad mask": lambda ns: _a(ns).masked_fill(ns.ones(3, dtype=ns.bool), 2.0),
    "fill 0-d mask": lambda ns: _a(ns).masked_fill(ns.tensor(True), 2.0),
    "fill 0-d self": lambda ns: ns.tensor(1.0).masked_fill(_m(ns), 3.0),
    "fill vector value": lambda ns: _a(ns).masked_fill(_m(ns), ns.tensor([2.0])),
    "fill value first": lambda ns: _a(ns).masked_fill(ns.ones(4), ns.ones(2)),
    "fill double value": lambda ns: _a(ns).masked_fill(_m(ns), ns.tensor(2.0).double()),
    "fill int self": lambda ns: ns.tensor([1, 2]).masked_fill(_m(ns, [True, False]), 2.5),
    "fill int tensor value": lambda ns: ns.tensor([1, 2]).masked_fill(
        _m(ns, [True, False]), ns.tensor(2.5)
    ),
    "fill bool self": lambda ns: _m(ns).masked_fill(_m(ns, [True, True, False, False]), 0),
    "fill int self grad value": lambda ns: ns.tensor([1, 2]).masked_fill(
        _m(ns, [True, False]), ns.tensor(2.5, requires_grad=True)
    ),
    "fill bool value": lambda ns: _a(ns).masked_fill(_m(ns), True),
    "fill overflow": lambda ns: ns.tensor([1, 2]).masked_fill(_m(ns, [True, False]), 1e30),
    "fill nan into int": lambda ns: ns.tensor([1]).masked_fill(_m(ns, [True]), float("nan")),
    "fill complex": lambda ns: _a(ns).masked_fill(_m(ns), 1 + 2j),
    "fill function": lambda ns: ns.masked_fill(_a(ns), _m(ns), -1.0),
}
for _dtype in ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "float16"):
    CASES[f"fill {_dtype} mask"] = lambda ns, d=_dtype: _a(ns).masked_fill(
        ns.ones(4, dtype=getattr(ns, d)), 1.0
    )
    CASES[f"scatter {_dtype} mask"] = lambda ns, d=_dtype: _a(ns).masked_scatter(
        ns.ones(4, dtype=getattr(ns, d)), ns.ones(12)
    )
CASES |= {
    # masked_select
    "select": lambda ns: _a(ns).masked_select(_m(ns)),
    "select uint8 mask": lambda ns: _a(ns).masked_select(_m(ns, dtype=ns.uint8)),
    "select long mask": lambda ns: _a(ns).masked_select(_m(ns, dtype=ns.int64)),
    "select bigger mask": lambda ns: _a(ns).masked_select(ns.ones(2, 3, 4, dtype=ns.bool)),
    "select bad mask": lambda ns: _a(ns).masked_select(ns.ones(3, dtype=ns.bool)),
    "select 0-d": lambda ns: ns.tensor(2.0).masked_select(ns.tensor(True)),
    "select 0-d none": lambda ns: ns.tensor(2.0).masked_select(ns.tensor(False)),
    "select int": lambda ns: ns.tensor([[1, 2], [3, 4]]).masked_select(_m(ns, [False, True])),
    # masked_scatter
    "scatter": lambda ns: _a(ns).masked_scatter(_m(ns), ns.arange(7.0)),
    "scatter short source": lambda ns: _a(ns).masked_scatter(_m(ns), ns.ones(5)),
    "scatter dtype": lambda ns: _a(ns).masked_scatter(_m(ns), ns.ones(7).double()),
    "scatter dtype first": lambda ns: _a(ns).masked_scatter(ns.ones(4), ns.ones(2).double()),
    "scatter bad mask": lambda ns: _a(ns).masked_scatter(ns.ones(5, dtype=ns.bool), ns.ones(2)),
    "scatter bigger mask": lambda ns: _a(ns).masked_scatter(
        ns.ones(2, 3, 4, dtype=ns.bool), ns.arange(30.0)
    ),
    "scatter 0-d self": lambda ns: ns.zeros(()).masked_scatter(_m(ns, [True, False]), ns.ones(3)),
    # nonzero
    "nonzero": lambda ns: ns.tensor([[0.0, 1.0], [2.0, 0.0]]).nonzero(),
    "nonzero tuple": lambda ns: ns.tensor([[0.0, 1.0], [2.0, 0.0]]).nonzero(as_tuple=True),
    "nonzero 0-d": lambda ns: ns.tensor(3.0).nonzero(),
    "nonzero 0-d zero": lambda ns: ns.tensor(0.0).nonzero(),
    "nonzero 0-d tuple": lambda ns: ns.tensor(3.0).nonzero(as_tuple=True),
    "nonzero 0-d zero tuple": lambda ns: ns.tensor(0).nonzero(as_tuple=True),
    "nonzero empty": lambda ns: ns.zeros(0, 3).nonzero(),
    "nonzero nan": lambda ns: ns.tensor([float("nan"), 0.0]).nonzero(),
    "nonzero bool": lambda ns: _m(ns).nonzero(),
    "nonzero function": lambda ns: ns.nonzero(_m(ns), as_tuple=False),
    # one_hot
    "one_hot": lambda ns: _f(ns).one_hot(ns.tensor([0, 2, 1])),
    "one_hot classes": lambda ns: _f(ns).one_hot(ns.tensor([[0, 2], [1, 1]]), 5),
    "one_hot keyword": lambda ns: _f(ns).one_hot(ns.tensor([0, 2]), num_classes=3),
    "one_hot too small": lambda ns: _f(ns).one_hot(ns.tensor([0, 2, 1]), 2),
    "one_hot negative": lambda ns: _f(ns).one_hot(ns.tensor([0, -1, 5]), 3),
    "one_hot negative infer": lambda ns: _f(ns).one_hot(ns.tensor([0, -2, 1])),
    "one_hot int32": lambda ns: _f(ns).one_hot(ns.tensor([0, 2]).int()),
    "one_hot float": lambda ns: _f(ns).one_hot(ns.tensor([0.0, 2.0])),
    "one_hot 0-d": lambda ns: _f(ns).one_hot(ns.tensor(2)),
    "one_hot empty": lambda ns: _f(ns).one_hot(ns.zeros(0, dtype=ns.int64)),
    "one_hot empty classes": lambda ns: _f(ns).one_hot(ns.zeros(0, dtype=ns.int64), 3),
    "one_hot classes -2": lambda ns: _f(ns).one_hot(ns.tensor([0, 2, 1]), -2),
    "one_hot classes 0": lambda ns: _f(ns).one_hot(ns.tensor([0]), 0),
    "one_hot float classes": lambda ns: _f(ns).one_hot(ns.tensor([0]), 2.5),
    "one_hot list": lambda ns: _f(ns).one_hot([0, 2, 1]),
}


@pytest.mark.filterwarnings("ignore:masked_scatter_ received a mask with dtype")
@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    assert_same(CASES[name])


def test_nonzero_takes_as_tuple_by_keyword_only():
    with pytest.raises(TypeError):
        tg.tensor([1.0]).nonzero(True)


def test_masked_fill_broadcast_self_gets_the_summed_gradient():
    mask = np.array([[True, False, True], [False, False, True]])
    assert_same_grads(lambda ns, a: a.masked_fill(ns.from_numpy(mask), 0.5), np.ones(3))


def test_masked_fill_value_of_another_dtype():
    assert_same_grads(
        lambda ns, a, v: a.masked_fill(ns.tensor(ROW), v.double()), A.astype(np.float32), 1.5
    )


def test_masked_scatter_source_gets_zeros_past_the_mask_count():
    assert_same_grads(lambda ns, a, s: a.masked_scatter(ns.tensor(ROW), s), A, np.ones((3, 5)))


def test_masked_select_second_order_matches_torch():
    x = np.random.default_rng(2).standard_normal((3, 4))
    grads = []
    for ns in (tg, torch):
        leaf = ns.tensor(x, requires_grad=True)
        y = (leaf.masked_select(ns.tensor(ROW)) ** 3).sum()
        (g,) = ns.autograd.grad(y, leaf, create_graph=True)
        (gg,) = ns.autograd.grad((g * g).sum(), leaf)
        grads.append(gg.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_one_hot_is_only_in_nn_functional():
    assert not hasattr(tg.Tensor, "one_hot")
    assert not hasattr(tg, "one_hot")
    assert tg.nn.functional.one_hot.__module__ == "tapegrad.nn.functional"


# ------------------------------------------------------------------ in-place forms

INPLACE = {
    "masked_fill_": lambda ns, t, s: t.masked_fill_(ns.tensor(ROW), -2.0),
    "masked_fill_ tensor": lambda ns, t, s: t.masked_fill_(ns.tensor(ROW), s.sum()),
    "masked_scatter_": lambda ns, t, s: t.masked_scatter_(ns.tensor(ROW), s),
}
SOURCE = np.arange(8.0).reshape(2, 4) / 4


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_on_a_non_leaf_is_recorded_as_torch(name):
    assert_same_grads(lambda ns, a, s: INPLACE[name](ns, a * 2, s), A, SOURCE)


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_returns_self_and_bumps_the_version(name):
    t = tg.tensor(A)
    out = INPLACE[name](tg, t, tg.tensor(SOURCE))
    assert out is t
    assert t._version == 1
    expected = INPLACE[name](torch, torch.tensor(A), torch.tensor(SOURCE))
    np.testing.assert_array_equal(t.numpy(), expected.numpy())


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    assert_same(lambda ns: INPLACE[name](ns, ns.tensor(A, requires_grad=True), ns.tensor(SOURCE)))


@pytest.mark.parametrize("op", ["masked_fill_", "masked_scatter_"])
@pytest.mark.parametrize(
    "shape, mask", [((3, 4), (2, 3, 4)), ((3, 1), (3, 4)), ((3, 4), (5,)), ((3, 4), (4,))]
)
def test_inplace_mask_must_fit_self_as_torch(op, shape, mask):
    def call(ns):
        t, m = ns.zeros(shape), ns.ones(mask, dtype=ns.bool)
        out = t.masked_fill_(m, 1.0) if op == "masked_fill_" else t.masked_scatter_(m, ns.ones(30))
        return out.clone()

    assert_same(call)


@pytest.mark.parametrize("op", ["masked_fill_", "masked_scatter_"])
@pytest.mark.parametrize("mask", [(5,), (2, 3, 4)])
def test_inplace_leaf_error_comes_before_argument_errors(op, mask):
    def call(ns):
        t, m = ns.zeros(3, 4, requires_grad=True), ns.ones(mask)
        return t.masked_fill_(m, 1.0) if op == "masked_fill_" else t.masked_scatter_(m, t)

    assert_same(call)


def test_masked_fill_in_place_writes_through_a_view():
    for ns in (tg, torch):
        base = ns.zeros(2, 3)
        base[1].masked_fill_(ns.tensor([True, False, True]), 4.0)
        np.testing.assert_array_equal(base.numpy(), [[0, 0, 0], [4, 0, 4]])
