"""all, any, prod, var, std, var_mean, std_mean, norm, amax, amin, aminmax against torch:
values, dtypes, return types, errors, warnings, node names and gradients (zeros, ties,
kinks) that the registry cannot express."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ops.reduction_torch import compare, compare_grad

INF = float("inf")


def _m(L):
    return L.tensor([[1.0, 0.0, 3.0], [3.0, 4.0, 0.5]])


def _b(L):
    return L.tensor([[True, False], [True, True]])


def _i(L, dtype="int64"):
    return L.tensor([[3, 1, 2], [0, 5, 4]], dtype=getattr(L, dtype))


def _cube(L):
    return L.arange(24.0).reshape(2, 3, 4) - 11.5


TRUTH = {
    "all": lambda L: _m(L).all(),
    "any": lambda L: _m(L).any(),
    "all_dim": lambda L: _m(L).all(1),
    "any_dim_neg_keepdim": lambda L: _m(L).any(-1, keepdim=True),
    "all_tuple": lambda L: _cube(L).all((0, 2)),
    "all_empty_tuple_reduces_nothing": lambda L: _m(L).all(dim=()),
    "any_list": lambda L: _m(L).any(dim=[0, 1]),
    "all_keepdim_whole": lambda L: _m(L).all(None, True),
    "all_int": lambda L: _i(L).all(),
    "any_int_dim": lambda L: _i(L).any(0),
    "all_uint8_stays_uint8": lambda L: _i(L, "uint8").all(1),
    "any_uint8_whole": lambda L: _i(L, "uint8").any(),
    "all_bool": lambda L: _b(L).all(0),
    "all_empty": lambda L: L.zeros(0).all(),
    "any_empty": lambda L: L.zeros(0).any(),
    "any_empty_dim": lambda L: L.zeros(0, 3).any(0),
    "all_0d_dim": lambda L: L.tensor(0.0).all(0),
    "all_0d_bad_dim": lambda L: L.tensor(0.0).all(1),
    "any_bad_dim": lambda L: _m(L).any(2),
    "any_nan": lambda L: L.tensor([float("nan"), 0.0]).any(),
    "function_all": lambda L: L.all(_m(L), 0),
    "function_any": lambda L: L.any(_m(L)),
}


@pytest.mark.parametrize("name", TRUTH)
def test_all_any_as_torch(name):
    compare(TRUTH[name])


def test_all_result_needs_no_grad():
    torch = pytest.importorskip("torch")
    import tapegrad as tg

    for L in (tg, torch):
        assert not L.tensor([1.0, 2.0], requires_grad=True).all().requires_grad


PROD = {
    "whole": lambda L: _m(L).prod(),
    "dim": lambda L: _m(L).prod(1),
    "dim_keepdim": lambda L: _m(L).prod(0, keepdim=True),
    "neg_dim": lambda L: _cube(L).prod(-2),
    "int_gives_int64": lambda L: _i(L, "int32").prod(),
    "uint8_gives_int64": lambda L: _i(L, "uint8").prod(1),
    "bool_gives_int64": lambda L: _b(L).prod(0),
    "dtype": lambda L: _i(L).prod(dtype=L.float32),
    "dim_dtype": lambda L: _m(L).prod(1, dtype=L.float64),
    "0d": lambda L: L.tensor(3.0).prod(),
    "0d_dim": lambda L: L.tensor(3.0).prod(0),
    "0d_bad_dim": lambda L: L.tensor(3.0).prod(1),
    "empty": lambda L: L.zeros(0).prod(),
    "empty_dim": lambda L: L.zeros(2, 0).prod(1),
    "function": lambda L: L.prod(_m(L), 1, True),
    "tuple_dim_refused": lambda L: _m(L).prod((0, 1)),
    "keepdim_without_dim": lambda L: _m(L).prod(keepdim=True),
    "overflow_silently": lambda L: L.full((4,), 3e38).prod(),
    "inf_times_zero_silently": lambda L: L.tensor([float("inf"), 0.0]).prod(),
}


@pytest.mark.parametrize("name", PROD)
def test_prod_as_torch(name):
    compare(PROD[name], message=not name.endswith(("refused", "without_dim")))


@pytest.mark.parametrize(
    "x",
    [
        [2.0, 0.0, 3.0, -1.5],  # one zero
        [2.0, 0.0, 3.0, 0.0, 5.0],  # two zeros
        [0.0],
        [0.0, 0.0],
    ],
    ids=["one_zero", "two_zeros", "only_zero", "only_zeros"],
)
def test_prod_gradient_with_zeros_as_torch(x):
    compare_grad(lambda L, a: a.prod(), np.array(x), create_graph=True)


def test_prod_dim_gradient_with_zeros_as_torch():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 3.0], [4.0, -1.0, 0.0]])
    compare_grad(lambda L, a: a.prod(1), x, create_graph=True)
    compare_grad(lambda L, a: a.prod(0, keepdim=True), x, create_graph=True)
    compare_grad(lambda L, a: a.prod(-1), np.array(0.0))


VAR = {
    "var": lambda L: _m(L).var(),
    "std": lambda L: _m(L).std(),
    "var_dim": lambda L: _m(L).var(1),
    "std_tuple_keepdim": lambda L: _cube(L).std((0, 2), keepdim=True),
    "var_unbiased_positional": lambda L: _m(L).var(1, False),
    "var_unbiased_only": lambda L: _m(L).var(False),
    "var_three_positional": lambda L: _m(L).var(1, True, True),
    "var_correction": lambda L: _m(L).var(1, correction=0),
    "std_float_correction": lambda L: _m(L).std(0, correction=0.5),
    "var_whole_keepdim": lambda L: _m(L).var(keepdim=True),
    "std_none_keepdim": lambda L: _m(L).std(None, keepdim=True),
    "var_empty_tuple_is_all": lambda L: _m(L).var(()),
    "var_list": lambda L: _cube(L).var([0, 1]),
    "var_one_element_warns": lambda L: L.tensor([2.0]).var(),
    "std_0d_warns": lambda L: L.tensor(2.0).std(),
    "var_big_correction": lambda L: L.tensor([1.0]).var(correction=2),
    "var_empty": lambda L: L.zeros(0).var(),
    "var_int_refused": lambda L: _i(L).var(),
    "std_int_refused": lambda L: _i(L).std(1),
    "var_float64": lambda L: _m(L).double().var(0),
    "function_var": lambda L: L.var(_m(L), 1, keepdim=True),
    "function_std": lambda L: L.std(_m(L), dim=0, unbiased=False),
    "var_mean": lambda L: L.var_mean(_m(L)),
    "var_mean_dim": lambda L: L.var_mean(_m(L), 1),
    "var_mean_unbiased": lambda L: L.var_mean(_m(L), 1, True),
    "var_mean_correction_keepdim": lambda L: L.var_mean(_m(L), 1, correction=0, keepdim=True),
    "std_mean": lambda L: L.std_mean(_cube(L), (0, -1)),
    "std_mean_unbiased_false": lambda L: L.std_mean(_m(L), unbiased=False),
    "var_mean_0d": lambda L: L.var_mean(L.tensor(1.5), correction=0),
    "std_mean_empty_tuple": lambda L: L.std_mean(_m(L), ()),
    "var_of_inf_silently": lambda L: L.tensor([1.0, float("inf")]).var(),
    "std_overflow_silently": lambda L: L.tensor([3e38, -3e38]).std(),
}


@pytest.mark.parametrize("name", VAR)
def test_var_std_as_torch(name):
    compare(VAR[name], rtol=2e-6)


@pytest.mark.parametrize(
    "case",
    [
        lambda L: _m(L).var(1, unbiased=True, correction=0),
        lambda L: _m(L).std(1, 0),
        lambda L: _m(L).var_mean(),
        lambda L: _m(L).std_mean(),
    ],
    ids=[
        "unbiased_and_correction",
        "correction_positional",
        "no_var_mean_method",
        "no_std_mean_method",
    ],
)
def test_var_std_refusals_as_torch(case):
    compare(case, message=False)


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, a: a.var(),
        lambda L, a: a.var(0, correction=0),
        lambda L, a: a.std(1, keepdim=True),
        lambda L, a: a.std(),
    ],
    ids=["var", "var_dim", "std_dim", "std"],
)
def test_var_std_gradients_as_torch(fn):
    compare_grad(fn, np.array([[1.0, 2.5, -1.0], [0.5, 3.0, 2.0]]), create_graph=True)


def test_std_gradient_where_std_is_zero_as_torch():
    x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    compare_grad(lambda L, a: a.std(1), x)
    compare_grad(lambda L, a: a.std(), np.array([2.0, 2.0]))


def test_var_of_one_element_gives_nan_gradient_as_torch():
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        compare_grad(lambda L, a: a.var(), np.array([2.0]))


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, a: L.var_mean(a, 1)[0],
        lambda L, a: L.var_mean(a, 1)[1],
        lambda L, a: L.std_mean(a, 0, keepdim=True)[0],
        lambda L, a: L.std_mean(a)[1],
    ],
    ids=["var_mean_var", "var_mean_mean", "std_mean_std", "std_mean_mean"],
)
def test_var_mean_std_mean_share_one_node_as_torch(fn):
    x = np.array([[1.0, 2.5, -1.0], [0.5, 3.0, 2.0]])
    compare_grad(fn, x, create_graph=True)


def test_var_mean_outputs_are_outputs_0_and_1_of_one_node():
    import tapegrad as tg

    v, m = tg.var_mean(tg.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True), 0)
    assert v.grad_fn is m.grad_fn
    assert (v.output_nr, m.output_nr) == (0, 1)
    (v.sum() + m.sum() * 2).backward()


NORM = {
    "default": lambda L: _m(L).norm(),
    "p1": lambda L: _m(L).norm(1),
    "inf": lambda L: _m(L).norm(INF),
    "neg_inf_dim": lambda L: _m(L).norm(-INF, dim=1),
    "p0": lambda L: _m(L).norm(0),
    "p3_dim_keepdim": lambda L: _m(L).norm(3, 1, True),
    "p_half": lambda L: _m(L).norm(0.5),
    "fro_dim": lambda L: _m(L).norm("fro", dim=1),
    "fro_two_dims": lambda L: _cube(L).norm("fro", dim=(0, 2)),
    "p2_two_dims": lambda L: _cube(L).norm(2, dim=(0, 1)),
    "p_none": lambda L: _m(L).norm(p=None),
    "neg_dim": lambda L: _cube(L).norm(dim=-1),
    "dtype": lambda L: _m(L).norm(dtype=L.float64),
    "dim_dtype": lambda L: _m(L).norm(2, dim=1, dtype=L.float64),
    "0d": lambda L: L.tensor(-3.0).norm(),
    "empty": lambda L: L.zeros(0).norm(),
    "empty_inf": lambda L: L.zeros(0).norm(INF),
    "empty_neg_inf": lambda L: L.zeros(0).norm(-INF),
    "empty_dim_inf": lambda L: L.zeros(0, 2).norm(INF, dim=0),
    "empty_other_dim_inf": lambda L: L.zeros(0, 2).norm(INF, dim=1),
    "int_refused": lambda L: _i(L).norm(),
    "fro_three_dims": lambda L: _cube(L).norm("fro", (0, 1, 2)),
    "bad_order": lambda L: _m(L).norm(p="bad"),
    "function": lambda L: L.norm(_m(L), 1),
    "nan": lambda L: L.tensor([[1.0, float("nan")], [2.0, 3.0]]).norm(dim=1),
    "overflow_silently": lambda L: L.tensor([3e38, 3e38]).norm(),
    "p3_overflow_silently": lambda L: L.tensor([3e38, 1.0]).norm(3),
    "p_half_of_inf": lambda L: L.tensor([float("inf"), 1.0]).norm(0.5),
}


@pytest.mark.parametrize("name", NORM)
def test_norm_as_torch(name):
    compare(NORM[name])


@pytest.mark.parametrize(
    ("p", "x"),
    [
        (2, [0.0, 0.0]),
        (1, [0.0, 1.0, -2.0]),
        (INF, [1.0, -3.0, 3.0]),
        (-INF, [1.0, -1.0, 3.0]),
        (3.0, [0.0, 0.0]),
        (0.5, [0.0, 1.0]),
        (1.5, [0.0, -2.0]),
    ],
    ids=[
        "p2_at_zero",
        "p1_kink",
        "inf_ties",
        "neg_inf_ties",
        "p3_at_zero",
        "p_half_zero",
        "p1.5_zero",
    ],
)
def test_norm_gradient_at_kinks_and_ties_as_torch(p, x):
    compare_grad(lambda L, a: a.norm(p), np.array(x))


def test_norm_dim_gradient_at_zero_as_torch():
    compare_grad(lambda L, a: a.norm(dim=1), np.array([[0.0, 0.0], [3.0, 4.0]]))


def test_norm_p0_has_no_gradient_as_torch():
    torch = pytest.importorskip("torch")
    import tapegrad as tg

    for L in (tg, torch):
        x = L.tensor([0.0, 1.0, 2.0], requires_grad=True)
        x.norm(0).backward()
        assert x.grad is None


def test_norm_nuclear_is_not_supported():
    import tapegrad as tg

    with pytest.raises(NotImplementedError, match="nuclear norm"):
        tg.ones(2, 2).norm("nuc")


EXTREMES = {
    "amax": lambda L: _m(L).amax(),
    "amin_dim": lambda L: _m(L).amin(1),
    "amax_tuple_keepdim": lambda L: _cube(L).amax((0, -1), keepdim=True),
    "amax_empty_tuple_is_all": lambda L: _m(L).amax(()),
    "amax_none": lambda L: _m(L).amax(dim=None),
    "amax_keepdim_whole": lambda L: _m(L).amax(keepdim=True),
    "amax_list": lambda L: _m(L).amax([0]),
    "amax_int": lambda L: _i(L).amax(1),
    "amin_bool": lambda L: _b(L).amin(0),
    "amax_0d": lambda L: L.tensor(2.0).amax(0),
    "amax_empty": lambda L: L.zeros(0).amax(),
    "amax_empty_dim_kept": lambda L: L.zeros(2, 0).amax(0),
    "amin_empty_dim": lambda L: L.zeros(2, 0).amin(1),
    "amax_nan": lambda L: L.tensor([[1.0, float("nan")], [2.0, 3.0]]).amax(1),
    "amax_bad_dim": lambda L: _m(L).amax(3),
    "function_amin": lambda L: L.amin(_m(L), 0),
    "aminmax": lambda L: _m(L).aminmax(),
    "aminmax_dim": lambda L: _m(L).aminmax(dim=1),
    "aminmax_dim_keepdim": lambda L: _m(L).aminmax(dim=-2, keepdim=True),
    "aminmax_int": lambda L: _i(L).aminmax(dim=1),
    "aminmax_bool": lambda L: _b(L).aminmax(),
    "aminmax_0d": lambda L: L.tensor(2.0).aminmax(dim=0),
    "aminmax_empty": lambda L: L.zeros(0).aminmax(),
    "aminmax_empty_dim_kept": lambda L: L.zeros(2, 0).aminmax(dim=0),
    "aminmax_empty_dim": lambda L: L.zeros(2, 0).aminmax(dim=1),
    "aminmax_tuple_dim": lambda L: _m(L).aminmax(dim=()),
    "function_aminmax": lambda L: L.aminmax(_m(L), dim=0),
}


@pytest.mark.parametrize("name", EXTREMES)
def test_amax_amin_aminmax_as_torch(name):
    compare(EXTREMES[name])


def test_aminmax_dim_is_keyword_only_as_torch():
    compare(lambda L: _m(L).aminmax(1), message=False)


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, a: a.amax(),
        lambda L, a: a.amax(1),
        lambda L, a: a.amin(0, keepdim=True),
        lambda L, a: a.amin((0, 1)),
        lambda L, a: a.aminmax()[1],
        lambda L, a: a.aminmax(dim=1)[0],
    ],
    ids=["amax", "amax_dim", "amin_keepdim", "amin_tuple", "aminmax_max", "aminmax_min_dim"],
)
def test_ties_share_the_gradient_as_torch(fn):
    compare_grad(fn, np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]))


def test_aminmax_outputs_share_one_node():
    import tapegrad as tg

    x = tg.tensor([1.0, 3.0, 3.0, 0.0], requires_grad=True)
    low, high = x.aminmax()
    assert low.grad_fn is high.grad_fn and low.grad_fn.name() == "AminmaxBackward0"
    (low + high).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 1.0])
    assert repr(x.aminmax()).startswith("tapegrad.return_types.aminmax(\nmin=")
