"""index_select, index_add, index_fill, index_copy and take against torch: argument checks
and their messages, integer dtypes, 0-d tensors and in-place forms (the registry covers
values and gradients of float inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from compare_torch import assert_same, assert_same_grads

import tapegrad as tg

torch = pytest.importorskip("torch")

A = np.arange(12.0).reshape(3, 4)
B = np.arange(24.0).reshape(2, 3, 4)


def _a(ns, data=A):
    return ns.tensor(data, dtype=ns.float32)


def _v(ns, data):
    return ns.tensor(data)


CASES = {
    # index_select
    "select int32": lambda ns: _a(ns).index_select(-1, _v(ns, [0, 0, 3]).int()),
    "select float": lambda ns: _a(ns).index_select(1, _v(ns, [0.0])),
    "select matrix index": lambda ns: _a(ns).index_select(1, _v(ns, [[0, 1]]).float()),
    "select 0-d index": lambda ns: _a(ns).index_select(1, _v(ns, 2)),
    "select dim 1 bounds": lambda ns: _a(ns).index_select(1, _v(ns, [4])),
    "select dim 1 negative": lambda ns: _a(ns).index_select(1, _v(ns, [1, -1])),
    "select dim 0 bounds": lambda ns: _a(ns).index_select(0, _v(ns, [3])),
    "select 3-d last dim": lambda ns: _a(ns, B).index_select(2, _v(ns, [9])),
    "select 3-d dim 1": lambda ns: _a(ns, B).index_select(1, _v(ns, [9])),
    "select vector": lambda ns: _a(ns, A[0]).index_select(0, _v(ns, [-1])),
    "select dim": lambda ns: _a(ns).index_select(2, _v(ns, [0])),
    "select 0-d": lambda ns: ns.tensor(2.0).index_select(0, _v(ns, 0)),
    "select 0-d two": lambda ns: ns.tensor(2.0).index_select(0, _v(ns, [0, 0])),
    "select 0-d bounds": lambda ns: ns.tensor(2.0).index_select(0, _v(ns, [1])),
    "select empty": lambda ns: _a(ns).index_select(0, ns.zeros(0, dtype=ns.int64)),
    "select int": lambda ns: _v(ns, [[1, 2], [3, 4]]).index_select(1, _v(ns, [1, 1])),
    "select function": lambda ns: ns.index_select(_a(ns), 0, _v(ns, [2])),
    # index_add
    "add int32": lambda ns: _a(ns).index_add(1, _v(ns, [0, 0, 3]).int(), _a(ns, A[:, :3])),
    "add float index": lambda ns: _a(ns).index_add(1, _v(ns, [0.0]), _a(ns, A[:, :1])),
    "add count": lambda ns: _a(ns).index_add(1, _v(ns, [0, 0, 3]), ns.ones(3, 2)),
    "add shape": lambda ns: _a(ns).index_add(1, _v(ns, [0, 0, 3]), ns.ones(2, 3)),
    "add source dim": lambda ns: _a(ns).index_add(1, _v(ns, [0, 0, 3]), ns.ones(3)),
    "add source 3-d": lambda ns: _a(ns).index_add(1, _v(ns, [0, 1]), ns.ones(3, 2, 1)),
    "add bounds": lambda ns: _a(ns).index_add(1, _v(ns, [0, 4]), ns.ones(3, 2)),
    "add negative": lambda ns: _a(ns).index_add(1, _v(ns, [0, -1]), ns.ones(3, 2)),
    "add matrix index": lambda ns: _a(ns).index_add(1, _v(ns, [[0, 1]]), ns.ones(3, 2)),
    "add dtype": lambda ns: _a(ns).index_add(1, _v(ns, [0]), ns.ones(3, 1).double()),
    "add alpha": lambda ns: _a(ns).index_add(0, _v(ns, [2, 2]), ns.ones(2, 4), alpha=-1.5),
    "add int alpha": lambda ns: _v(ns, [0, 0, 0]).index_add(0, _v(ns, [0]), _v(ns, [1]), alpha=3.5),
    "add complex alpha": lambda ns: _a(ns).index_add(0, _v(ns, [0]), ns.ones(1, 4), alpha=1j),
    "add 0-d": lambda ns: ns.tensor(2.0).index_add(0, _v(ns, 0), ns.tensor(3.0)),
    "add 0-d source": lambda ns: ns.zeros(3).index_add(0, _v(ns, [0]), ns.tensor(3.0)),
    "add 0-d self": lambda ns: ns.tensor(2.0).index_add(0, _v(ns, [0, 0]), ns.ones(2)),
    # index_fill
    "fill": lambda ns: _a(ns).index_fill(1, _v(ns, [0, -1]), 1.5),
    "fill int32": lambda ns: _a(ns).index_fill(1, _v(ns, [0]).int(), 1.5),
    "fill bounds": lambda ns: _a(ns).index_fill(1, _v(ns, [0, 4]), 1.5),
    "fill negative bounds": lambda ns: _a(ns).index_fill(1, _v(ns, [0, -5]), 1.5),
    "fill matrix index": lambda ns: _a(ns).index_fill(1, _v(ns, [[0, 1]]), 1.5),
    "fill vector value": lambda ns: _a(ns).index_fill(1, _v(ns, [[0, 1]]), ns.ones(2)),
    "fill tensor value": lambda ns: _a(ns).index_fill(1, _v(ns, [2]), ns.tensor(2.5).double()),
    "fill int grad value": lambda ns: _v(ns, [1, 2]).index_fill(
        0, _v(ns, [0]), ns.tensor(2.5, requires_grad=True)
    ),
    "fill int": lambda ns: _v(ns, [1, 2, 3]).index_fill(0, _v(ns, [0]), 2.5),
    "fill 0-d": lambda ns: ns.tensor(1.0).index_fill(0, _v(ns, 0), 2.0),
    "fill 0-d bounds": lambda ns: ns.tensor(1.0).index_fill(0, _v(ns, [1]), 2.0),
    # index_copy
    "copy": lambda ns: _a(ns).index_copy(1, _v(ns, [3, 0]), ns.ones(3, 2)),
    "copy int32": lambda ns: _a(ns).index_copy(1, _v(ns, [0, 2]).int(), ns.ones(3, 2)),
    "copy count": lambda ns: _a(ns).index_copy(1, _v(ns, [0, 2]), ns.ones(3, 3)),
    "copy slices": lambda ns: _a(ns).index_copy(1, _v(ns, [0, 2]), ns.ones(2, 2)),
    "copy slices 3-d": lambda ns: _a(ns, B).index_copy(1, _v(ns, [0, 1]), ns.ones(2, 2, 5)),
    "copy dims": lambda ns: _a(ns).index_copy(1, _v(ns, [0, 1]), ns.ones(3, 2, 1)),
    "copy scalar source": lambda ns: _a(ns, B).index_copy(1, _v(ns, [0, 1]), ns.tensor(1.0)),
    "copy bounds": lambda ns: _a(ns).index_copy(1, _v(ns, [0, 4]), ns.ones(3, 2)),
    "copy negative": lambda ns: _a(ns).index_copy(1, _v(ns, [0, -1]), ns.ones(3, 2)),
    "copy dtype": lambda ns: _a(ns).index_copy(1, _v(ns, [0, 2]), ns.ones(3, 2).double()),
    "copy matrix index": lambda ns: _a(ns).index_copy(1, _v(ns, [[0, 2]]).float(), ns.ones(3, 2)),
    "copy 0-d": lambda ns: ns.zeros(()).index_copy(0, _v(ns, 0), ns.tensor(2.0)),
    "copy vector 0-d": lambda ns: ns.zeros(3).index_copy(0, _v(ns, 1), ns.tensor(2.0)),
    # take
    "take": lambda ns: _a(ns).take(_v(ns, [[0, 11], [-1, -12]])),
    "take bounds": lambda ns: _a(ns).take(_v(ns, [12])),
    "take negative bounds": lambda ns: _a(ns).take(_v(ns, [-13])),
    "take int32": lambda ns: _a(ns).take(_v(ns, [1]).int()),
    "take float": lambda ns: ns.zeros(0).take(_v(ns, [1.0])),
    "take empty self": lambda ns: ns.zeros(0).take(_v(ns, [0])),
    "take empty both": lambda ns: ns.zeros(0).take(ns.zeros(0, dtype=ns.int64)),
    "take 0-d index": lambda ns: _a(ns).take(_v(ns, 5)),
    "take int": lambda ns: _v(ns, [[1, 2], [3, 4]]).take(_v(ns, [3, 0])),
    "take function": lambda ns: ns.take(_a(ns), _v(ns, [1, 1])),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    assert_same(CASES[name])


def test_index_fill_tensor_value_gets_the_gradient_of_all_it_filled():
    assert_same_grads(lambda ns, a, v: a.index_fill(1, ns.tensor([0, 2, 0]), v), A, np.array(2.5))


def test_index_fill_value_of_another_dtype_gets_its_own_dtype_gradient():
    assert_same_grads(
        lambda ns, a, v: a.index_fill(0, ns.tensor([1]), v.float()), A.astype(np.float32), 2.5
    )


def test_index_add_int_self_does_not_require_grad_and_records_nothing():
    out = tg.tensor([1, 2]).index_add(0, tg.tensor([0]), tg.tensor([5]))
    assert out.grad_fn is None and out.dtype == tg.int64


def test_second_backward_through_index_select_raises():
    a = tg.randn(3, 4, requires_grad=True)
    out = a.index_select(0, tg.tensor([1, 1])).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()


def test_take_second_order_matches_torch():
    x = np.random.default_rng(1).standard_normal((3, 4))
    grads = []
    for ns in (tg, torch):
        leaf = ns.tensor(x, requires_grad=True)
        y = (leaf.take(ns.tensor([[0, 5], [5, 11]])) ** 3).sum()
        (g,) = ns.autograd.grad(y, leaf, create_graph=True)
        (gg,) = ns.autograd.grad((g * g).sum(), leaf)
        grads.append(gg.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


# ------------------------------------------------------------------ in-place forms

INPLACE = {
    "index_add_": lambda ns, t, s: t.index_add_(1, ns.tensor([0, 0]), s, alpha=2),
    "index_copy_": lambda ns, t, s: t.index_copy_(1, ns.tensor([3, 1]), s),
    "index_fill_": lambda ns, t, s: t.index_fill_(1, ns.tensor([3, 1]), s.sum()),
}
SOURCE = np.array([[0.5, -1.0], [2.0, 3.0], [1.5, 0.25]])


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


def test_index_fill_with_a_number_in_place_under_no_grad():
    for ns in (tg, torch):
        t = ns.tensor(A, requires_grad=True)
        with ns.no_grad():
            t.index_fill_(0, ns.tensor([1]), -1.0)
        assert t.requires_grad and t.grad_fn is None
        np.testing.assert_array_equal(t.detach().numpy()[1], [-1.0] * 4)
