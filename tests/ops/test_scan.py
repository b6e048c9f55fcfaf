"""cumsum, cumprod, cummax, cummin, logcumsumexp and the in-place cumsum_/cumprod_ against
torch: values, dtypes, indices (ties, NaN), errors, node names and gradients (cumprod with
zeros, cummax ties) that the registry cannot express."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.reduction_torch import compare, compare_grad

NAN = float("nan")


def _m(L):
    return L.tensor([[1.0, -2.0, 3.0], [3.0, 0.5, 0.0]])


def _i(L, dtype="int64"):
    return L.tensor([[3, 1, 2], [0, 5, 4]], dtype=getattr(L, dtype))


def _b(L):
    return L.tensor([[True, False], [True, True]])


SCANS = {
    "cumsum": lambda L: _m(L).cumsum(1),
    "cumsum_neg_dim": lambda L: _m(L).cumsum(-2),
    "cumsum_keyword": lambda L: _m(L).cumsum(dim=0),
    "cumsum_int32_gives_int64": lambda L: _i(L, "int32").cumsum(0),
    "cumsum_uint8_gives_int64": lambda L: _i(L, "uint8").cumsum(1),
    "cumsum_bool_gives_int64": lambda L: _b(L).cumsum(0),
    "cumsum_dtype": lambda L: _i(L).cumsum(0, dtype=L.float32),
    "cumsum_float_dtype": lambda L: _m(L).cumsum(1, dtype=L.float64),
    "cumsum_0d": lambda L: L.tensor(3.0).cumsum(0),
    "cumsum_0d_neg": lambda L: L.tensor(3.0).cumsum(-1),
    "cumsum_0d_bad_dim": lambda L: L.tensor(3.0).cumsum(1),
    "cumsum_bad_dim": lambda L: _m(L).cumsum(2),
    "cumsum_float_dim": lambda L: _m(L).cumsum(dim=1.0),
    "cumsum_empty": lambda L: L.zeros(0).cumsum(0),
    "cumsum_nan": lambda L: L.tensor([1.0, NAN, 2.0]).cumsum(0),
    "function_cumsum": lambda L: L.cumsum(_m(L), dim=1),
    "cumsum_overflow_silently": lambda L: L.full((3,), 3e38).cumsum(0),
    "cumsum_float32_accumulates_in_double": lambda L: L.tensor([3e38, 3e38, -3e38]).cumsum(0),
    "cumprod_float32_accumulates_in_double": lambda L: L.tensor([1e-30, 1e-30, 1e30]).cumprod(0),
    "cumprod_overflow_silently": lambda L: L.tensor([1e30, 1e30, 0.0, float("inf")]).cumprod(0),
    "cumprod": lambda L: _m(L).cumprod(1),
    "cumprod_int": lambda L: _i(L).cumprod(1),
    "cumprod_bool": lambda L: _b(L).cumprod(0),
    "cumprod_dtype": lambda L: _i(L, "int32").cumprod(1, dtype=L.float64),
    "cumprod_0d": lambda L: L.tensor(-2.0).cumprod(0),
    "function_cumprod": lambda L: L.cumprod(_m(L), 0),
    "cummax": lambda L: _m(L).cummax(1),
    "cummin_dim0": lambda L: _m(L).cummin(0),
    "cummax_ties_take_the_later_index": lambda L: L.tensor([1.0, 3.0, 3.0, 2.0, 5.0]).cummax(0),
    "cummin_ties": lambda L: L.tensor([3.0, 1.0, 1.0, 2.0, 0.0]).cummin(0),
    "cummax_nan": lambda L: L.tensor([[1.0, NAN, 3.0, 0.0], [2.0, 5.0, NAN, NAN]]).cummax(1),
    "cummin_nan": lambda L: L.tensor([[1.0, NAN, 3.0, 0.0], [2.0, 5.0, NAN, NAN]]).cummin(1),
    "cummax_int": lambda L: _i(L).cummax(1),
    "cummax_bool": lambda L: _b(L).cummax(0),
    "cummax_0d": lambda L: L.tensor(3.0).cummax(0),
    "cummax_empty": lambda L: L.zeros(2, 0).cummax(1),
    "cummin_bad_dim": lambda L: _m(L).cummin(-3),
    "function_cummax": lambda L: L.cummax(_m(L), -1),
    "logcumsumexp": lambda L: _m(L).logcumsumexp(1),
    "logcumsumexp_dim0": lambda L: _m(L).logcumsumexp(0),
    "logcumsumexp_large": lambda L: L.tensor([1000.0, 1000.0, -1000.0]).logcumsumexp(0),
    "logcumsumexp_neg_inf": lambda L: L.tensor([-float("inf"), -float("inf"), 1.0]).logcumsumexp(0),
    "logcumsumexp_nan": lambda L: L.tensor([1.0, NAN, 2.0]).logcumsumexp(0),
    "logcumsumexp_0d": lambda L: L.tensor(3.0).logcumsumexp(0),
    "logcumsumexp_int_refused": lambda L: _i(L).logcumsumexp(0),
    "logcumsumexp_bool_refused": lambda L: _b(L).logcumsumexp(0),
    "function_logcumsumexp": lambda L: L.logcumsumexp(_m(L), 1),
}


@pytest.mark.parametrize("name", SCANS)
def test_scans_as_torch(name):
    compare(SCANS[name])


def test_dim_is_required_as_torch():
    for case in (lambda L: _m(L).cumsum(), lambda L: _m(L).cummax()):
        compare(case, message=False)


@pytest.mark.parametrize(
    "x",
    [
        [2.0, 0.0, 3.0, 4.0],
        [2.0, 0.0, 3.0, 0.0, 5.0],
        [0.0, 1.5, -2.0],
        [1.5, -2.0, 0.0],
        [0.0, 0.0],
    ],
    ids=["one_zero", "two_zeros", "zero_first", "zero_last", "all_zero"],
)
def test_cumprod_gradient_with_zeros_as_torch(x):
    compare_grad(lambda L, a: a.cumprod(0), np.array(x), create_graph=True)


def test_cumprod_gradient_with_zeros_along_a_dim_as_torch():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 3.0], [4.0, -1.0, 0.0]])
    compare_grad(lambda L, a: a.cumprod(1), x, create_graph=True)
    compare_grad(lambda L, a: a.cumprod(-2), x, create_graph=True)


@pytest.mark.parametrize(
    "fn",
    [lambda L, a: a.cummax(0).values, lambda L, a: a.cummin(0).values],
    ids=["cummax", "cummin"],
)
def test_running_extremes_with_ties_give_the_gradient_to_the_index_as_torch(fn):
    compare_grad(fn, np.array([1.0, 3.0, 3.0, 2.0, 5.0, 0.0, 0.0]), create_graph=True)


def test_logcumsumexp_gradient_with_neg_inf_and_second_order_as_torch():
    compare_grad(lambda L, a: a.logcumsumexp(0), np.array([1.0, -np.inf, 3.0]))
    x = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.7]])
    compare_grad(lambda L, a: a.logcumsumexp(1), x, create_graph=True)


def test_cumsum_dtype_gradient_comes_back_in_the_input_dtype():
    torch = pytest.importorskip("torch")
    for L in (tg, torch):
        x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x.cumsum(0, dtype=L.float64)
        assert str(y.dtype).endswith("float64")
        y.sum().backward()
        assert str(x.grad.dtype).endswith("float32")
        assert x.grad.tolist() == [3.0, 2.0, 1.0]


def test_cummax_returns_a_named_pair():
    r = tg.tensor([1.0, 3.0, 2.0]).cummax(0)
    values, indices = r
    assert values is r.values and indices is r.indices
    assert indices.tolist() == [0, 1, 1] and str(indices.dtype) == "tapegrad.int64"
    assert repr(r).startswith("tapegrad.return_types.cummax(\nvalues=")


# ------------------------------------------------------------------ in place

INPLACE = {
    "cumsum_": lambda L: _m(L).cumsum_(1),
    "cumprod_": lambda L: _m(L).cumprod_(0),
    "cumsum_int32_stays_int32": lambda L: _i(L, "int32").cumsum_(0),
    "cumsum_bool_refused": lambda L: _b(L).cumsum_(0),
    "cumprod_bool_refused": lambda L: _b(L).cumprod_(0),
    "cumsum_same_dtype": lambda L: _m(L).cumsum_(1, dtype=L.float32),
    "cumsum_other_dtype_refused": lambda L: _m(L).cumsum_(1, dtype=L.float64),
    "cumsum_0d": lambda L: L.tensor(2.0).cumsum_(0),
    "cumsum_bad_dim": lambda L: _m(L).cumsum_(5),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_as_torch(name):
    compare(INPLACE[name])


@pytest.mark.parametrize("name", ["cumsum_", "cumprod_"])
def test_inplace_returns_self_and_bumps_the_version(name):
    x = tg.tensor([1.0, 2.0, 3.0])
    before = x._version
    assert getattr(x, name)(0) is x
    assert x._version == before + 1


@pytest.mark.parametrize("name", ["cumsum_", "cumprod_"])
def test_inplace_on_a_non_leaf_is_recorded_as_torch(name):
    torch = pytest.importorskip("torch")
    results = []
    for L in (tg, torch):
        x = L.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 2
        out = getattr(y, name)(0)
        assert out is y
        node = y.grad_fn.name() if L is tg else type(y.grad_fn).__name__
        y.backward(L.tensor([0.5, -1.0, 2.0]))
        results.append((node, y.detach().numpy().tolist(), x.grad.numpy().tolist()))
    assert results[0] == results[1]


@pytest.mark.parametrize("name", ["cumsum_", "cumprod_"])
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.ones(3, requires_grad=True), name)(0)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad") as mine:
        getattr(tg.ones(3, requires_grad=True), name)(0)
    assert str(mine.value) == str(theirs.value)


def test_inplace_on_a_saved_tensor_is_caught_in_backward():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y.cumsum_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    x2 = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y2 = x2.exp()
    w = y2.cumprod(0)  # saves its input and result
    y2.cumsum_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()
