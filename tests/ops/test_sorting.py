"""sort, argsort, topk, kthvalue, median and argmax/argmin against torch: values, indices
(stable ties, NaN), dtypes, return types, errors, node names and gradients (ties) that the
registry cannot express."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tests.ops.reduction_torch import compare, compare_grad

NAN = float("nan")


def _m(L):
    return L.tensor([[2.0, -1.0, 3.5, 0.5], [4.0, 1.0, -2.0, 3.0], [0.0, 2.5, 1.5, -3.0]])


def _ties(L):
    return L.tensor([2.0, 1.0, 2.0, 3.0, 1.0])


def _nan(L):
    return L.tensor([[1.0, NAN, 3.0, 0.0], [2.0, 5.0, NAN, NAN]])


def _i(L):
    return L.tensor([[3, 1, 2], [0, 5, 4]])


def _b(L):
    return L.tensor([[True, False], [True, True]])


SORTS = {
    "sort": lambda L: _m(L).sort(),
    "sort_dim0": lambda L: _m(L).sort(0),
    "sort_descending": lambda L: _m(L).sort(descending=True),
    "sort_positional": lambda L: _m(L).sort(0, True),
    "sort_stable": lambda L: _ties(L).sort(stable=True),
    "sort_ties_are_stable": lambda L: _ties(L).sort(),
    "sort_descending_ties_keep_order": lambda L: _ties(L).sort(descending=True),
    "sort_stable_descending": lambda L: _ties(L).sort(stable=True, descending=True),
    "sort_nan_last": lambda L: _nan(L).sort(),
    "sort_nan_first_descending": lambda L: _nan(L).sort(descending=True),
    "sort_int": lambda L: _i(L).sort(),
    "sort_bool": lambda L: _b(L).sort(),
    "sort_0d": lambda L: L.tensor(3.0).sort(),
    "sort_empty": lambda L: L.zeros(0).sort(),
    "sort_bad_dim": lambda L: _m(L).sort(2),
    "function_sort": lambda L: L.sort(_m(L), -2, descending=True),
    "argsort": lambda L: _m(L).argsort(),
    "argsort_positional": lambda L: _i(L).argsort(1, True),
    "argsort_nan_descending": lambda L: _nan(L).argsort(descending=True),
    "argsort_stable": lambda L: L.argsort(_ties(L), stable=True),
    "argsort_bool": lambda L: _b(L).argsort(),
    "argsort_0d": lambda L: L.tensor(3.0).argsort(),
    "topk": lambda L: _m(L).topk(2),
    "topk_dim0_smallest": lambda L: _m(L).topk(2, 0, largest=False),
    "topk_all": lambda L: _m(L).topk(4),
    "topk_zero": lambda L: _m(L).topk(0),
    "topk_too_many": lambda L: _m(L).topk(5),
    "topk_negative": lambda L: _m(L).topk(-1),
    "topk_unsorted_keyword": lambda L: _m(L).topk(k=2, dim=0, sorted=False),
    "topk_nan_is_largest": lambda L: _nan(L).topk(2),
    "topk_nan_smallest": lambda L: _nan(L).topk(2, largest=False),
    "topk_int": lambda L: _i(L).topk(2),
    "topk_bool_refused": lambda L: _b(L).topk(1),
    "topk_0d": lambda L: L.tensor(3.0).topk(1),
    "topk_0d_too_many": lambda L: L.tensor(3.0).topk(2),
    "topk_empty_k0": lambda L: L.zeros(2, 0).topk(0),
    "function_topk": lambda L: L.topk(_m(L), 2, 1, False, False),
    "kthvalue": lambda L: _m(L).kthvalue(2),
    "kthvalue_dim0_keepdim": lambda L: _m(L).kthvalue(3, 0, True),
    "kthvalue_ties": lambda L: L.tensor([2.0, 1.0, 2.0, 3.0]).kthvalue(3),
    "kthvalue_nan_is_largest": lambda L: _nan(L).kthvalue(2),
    "kthvalue_int": lambda L: _i(L).kthvalue(2),
    "kthvalue_zero": lambda L: _m(L).kthvalue(0),
    "kthvalue_too_big": lambda L: _m(L).kthvalue(5),
    "kthvalue_bool_refused": lambda L: _b(L).kthvalue(1),
    "kthvalue_0d": lambda L: L.tensor(3.0).kthvalue(1),
    "kthvalue_0d_too_big": lambda L: L.tensor(3.0).kthvalue(2),
    "kthvalue_empty_dim": lambda L: L.zeros(2, 0).kthvalue(1),
    "function_kthvalue": lambda L: L.kthvalue(_m(L), 1, 0),
    "median": lambda L: _m(L).median(),
    "median_even_count_is_the_lower": lambda L: L.tensor([4.0, 1.0, 3.0, 2.0]).median(),
    "median_dim": lambda L: _m(L).median(1),
    "median_dim_keepdim": lambda L: _m(L).median(0, keepdim=True),
    "median_dim_even": lambda L: _m(L).median(-1),
    "median_nan": lambda L: _nan(L).median(),
    "median_dim_nan_at_first_nan": lambda L: _nan(L).median(1),
    "median_int": lambda L: _i(L).median(),
    "median_int_dim": lambda L: _i(L).median(1),
    "median_bool_refused": lambda L: _b(L).median(),
    "median_bool_dim_refused": lambda L: _b(L).median(0),
    "median_empty": lambda L: L.zeros(0).median(),
    "median_empty_dim": lambda L: L.zeros(2, 0).median(1),
    "median_0d": lambda L: L.tensor(3.0).median(),
    "median_0d_dim": lambda L: L.tensor(3.0).median(0),
    "function_median": lambda L: L.median(_m(L), 0),
}


@pytest.mark.parametrize("name", SORTS)
def test_sorting_as_torch(name):
    compare(SORTS[name])


def test_median_keepdim_needs_a_dim_as_torch():
    compare(lambda L: _m(L).median(keepdim=True))


def test_stable_is_keyword_only_as_torch():
    compare(lambda L: _m(L).sort(1, True, True), message=False)


ARGS = {
    "argmax": lambda L: _m(L).argmax(),
    "argmin_dim": lambda L: _m(L).argmin(1),
    "argmax_keepdim": lambda L: _m(L).argmax(0, keepdim=True),
    "argmax_whole_keepdim": lambda L: _m(L).argmax(keepdim=True),
    "argmax_neg_dim": lambda L: _m(L).argmax(-1),
    "argmax_ties_first": lambda L: L.tensor([1.0, 3.0, 3.0, 0.0]).argmax(),
    "argmin_ties_first": lambda L: L.tensor([[1.0, 0.0, 3.0, 0.0]]).argmin(1),
    "argmax_nan": lambda L: _nan(L).argmax(1),
    "argmin_nan": lambda L: _nan(L).argmin(1),
    "argmax_nan_whole": lambda L: _nan(L).argmax(),
    "argmax_int": lambda L: _i(L).argmax(0),
    "argmax_bool_refused": lambda L: _b(L).argmax(),
    "argmax_0d": lambda L: L.tensor(2.0).argmax(0),
    "argmax_0d_keepdim": lambda L: L.tensor(2.0).argmax(0, True),
    "argmax_0d_whole_keepdim": lambda L: L.tensor(2.0).argmax(keepdim=True),
    "argmax_empty": lambda L: L.zeros(0).argmax(),
    "argmax_empty_kept_dim": lambda L: L.zeros(2, 0).argmax(0),
    "argmax_empty_dim": lambda L: L.zeros(2, 0).argmax(1),
    "argmin_bad_dim": lambda L: _m(L).argmin(2),
    "argmax_float_dim": lambda L: _m(L).argmax(1.5),
    "function_argmin": lambda L: L.argmin(_m(L), dim=0, keepdim=True),
}


@pytest.mark.parametrize("name", ARGS)
def test_argmax_argmin_as_torch(name):
    compare(ARGS[name])


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, a: a.sort().values,
        lambda L, a: a.sort(descending=True, stable=True).values,
        lambda L, a: a.topk(1).values,
        lambda L, a: a.kthvalue(2).values,
        lambda L, a: a.kthvalue(3, keepdim=True).values,
        lambda L, a: a.median(0).values,
        lambda L, a: a.median(),
    ],
    ids=[
        "sort",
        "sort_stable_descending",
        "topk",
        "kthvalue",
        "kthvalue_keepdim",
        "median_dim",
        "median",
    ],
)
def test_gradients_with_ties_as_torch(fn):
    # topk's order among ties is its partial sort's in torch (not reproduced): k=1 only
    compare_grad(fn, np.array([2.0, 1.0, 2.0, 3.0, 1.0]), create_graph=True)


def test_median_ties_share_the_gradient_as_torch():
    compare_grad(lambda L, a: a.median(), np.array([1.0, 2.0, 2.0, 3.0]))


def test_gradients_along_a_dim_as_torch():
    x = np.array([[2.0, -1.0, 3.5, 0.5], [4.0, 1.0, -2.0, 3.0], [0.0, 2.5, 1.5, -3.0]])
    compare_grad(lambda L, a: a.sort(0, descending=True).values, x, create_graph=True)
    compare_grad(lambda L, a: a.topk(2, dim=0, largest=False).values, x, create_graph=True)
    compare_grad(lambda L, a: a.median(1, keepdim=True).values, x, create_graph=True)


def test_results_are_named_pairs():
    r = tg.tensor([3.0, 1.0, 2.0]).sort()
    values, indices = r
    assert values is r.values and indices is r.indices
    assert indices.tolist() == [1, 2, 0] and str(indices.dtype) == "tapegrad.int64"
    assert repr(r).startswith("tapegrad.return_types.sort(\nvalues=tensor([1., 2., 3.])")
    for name, result in [
        ("topk", tg.tensor([3.0, 1.0]).topk(1)),
        ("kthvalue", tg.tensor([3.0, 1.0]).kthvalue(1)),
        ("median", tg.tensor([3.0, 1.0]).median(0)),
    ]:
        assert type(result).__name__ == name and len(result) == 2


def test_indices_need_no_grad():
    x = tg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    assert x.sort().values.requires_grad
    assert not x.sort().indices.requires_grad
    assert not x.argsort().requires_grad
