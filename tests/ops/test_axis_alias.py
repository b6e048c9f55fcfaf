"""numpy's ``axis=``/``keepdims=`` spellings of ``dim=``/``keepdim=``, accepted where torch's
argument parser accepts them (every method and function with those arguments), refused
where torch refuses them (``norm``, ``nn.functional.softmax``), and an error when both
spellings are given."""

from __future__ import annotations

import importlib

import pytest

import tapegrad as tg
from tests.ops.reduction_torch import compare


def _x(L):
    return L.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 0.5]])


# name -> extra positional arguments before dim
REDUCTIONS = {
    "sum": (),
    "mean": (),
    "prod": (),
    "max": (),
    "min": (),
    "amax": (),
    "amin": (),
    "std": (),
    "var": (),
    "all": (),
    "any": (),
    "argmax": (),
    "argmin": (),
    "logsumexp": (),
    "kthvalue": (1,),
    "median": (),
}
SCANS = {
    "cumsum": (),
    "cumprod": (),
    "cummax": (),
    "cummin": (),
    "logcumsumexp": (),
    "softmax": (),
    "log_softmax": (),
    "sort": (),
    "argsort": (),
    "topk": (1,),
}
FUNCTIONS_ONLY = ("var_mean", "std_mean")
# torch's messages when both spellings are given, where it names the alias plainly
PLAIN_MESSAGE = {
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "logsumexp",
    "kthvalue",
    "median",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "logcumsumexp",
    "softmax",
    "log_softmax",
    "topk",
}


@pytest.mark.parametrize("name", [*REDUCTIONS, *SCANS])
def test_axis_as_a_method_keyword(name):
    args = {**REDUCTIONS, **SCANS}[name]
    compare(lambda L: getattr(_x(L), name)(*args, axis=1))
    compare(lambda L: getattr(_x(L), name)(*args, axis=-2))


@pytest.mark.parametrize("name", [*REDUCTIONS, *SCANS, *FUNCTIONS_ONLY])
def test_axis_as_a_function_keyword(name):
    args = {**REDUCTIONS, **SCANS}.get(name, ())
    compare(lambda L: getattr(L, name)(_x(L), *args, axis=0))


@pytest.mark.parametrize("name", [*REDUCTIONS, *FUNCTIONS_ONLY])
def test_keepdims_as_keepdim(name):
    args = REDUCTIONS.get(name, ())
    compare(lambda L: getattr(L, name)(_x(L), *args, dim=1, keepdims=True))
    compare(lambda L: getattr(L, name)(_x(L), *args, axis=1, keepdims=True))


def test_aminmax_takes_axis_and_keepdims():
    compare(lambda L: _x(L).aminmax(axis=1, keepdims=True))


@pytest.mark.parametrize("name", [*REDUCTIONS, *SCANS])
def test_both_spellings_are_refused(name):
    args = {**REDUCTIONS, **SCANS}[name]
    compare(lambda L: getattr(_x(L), name)(*args, axis=1, dim=1), message=name in PLAIN_MESSAGE)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_both_keepdim_spellings_are_refused(name):
    args = REDUCTIONS[name]
    compare(
        lambda L: getattr(_x(L), name)(*args, dim=1, keepdim=True, keepdims=True),
        message=name in PLAIN_MESSAGE - {"max", "min", "median"},  # overloads: other words
    )


def test_positional_dim_and_axis_is_refused():
    with pytest.raises(TypeError):
        _x(tg).sum(1, axis=1)


@pytest.mark.parametrize(
    "case",
    [
        lambda L: _x(L).norm(axis=1),
        lambda L: L.norm(_x(L), axis=1),
        lambda L: _x(L).norm(dim=1, keepdims=True),
        lambda L: importlib.import_module(f"{L.__name__}.nn.functional").softmax(_x(L), axis=1),
        lambda L: importlib.import_module(f"{L.__name__}.nn.functional").log_softmax(_x(L), axis=1),
    ],
    ids=["norm_method", "norm_function", "norm_keepdims", "F.softmax", "F.log_softmax"],
)
def test_refused_where_torch_refuses(case):
    compare(case, message=False)


def test_axis_keeps_the_gradient():
    x = tg.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    x.sum(axis=0).prod().backward()
    assert x.grad.tolist() == [[7.0, 4.0], [7.0, 4.0]]
