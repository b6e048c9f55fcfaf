"""A view of a leaf that requires grad cannot change in place with grad mode on (torch's
error), whether the view was made before or after the leaf required grad."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

MESSAGE = "a view of a leaf Variable that requires grad is being used in an in-place operation."

VIEWS: dict[str, Callable[[Any], Any]] = {
    "slice": lambda a: a[:],
    "select": lambda a: a[0],
    "view": lambda a: a.view(6),
    "t": lambda a: a.t(),
    "transpose": lambda a: a.transpose(0, 1),
    "unsqueeze": lambda a: a.unsqueeze(0),
    "view_of_view": lambda a: a[1:][0],
}

INPLACE: dict[str, Callable[[Any], Any]] = {
    "add_": lambda b: b.add_(5),
    "sub_": lambda b: b.sub_(1.0),
    "mul_": lambda b: b.mul_(2),
    "div_": lambda b: b.div_(2),
    "zero_": lambda b: b.zero_(),
    "fill_": lambda b: b.fill_(3.0),
    "copy_": lambda b: b.copy_(b.detach() * 0 + 1),
    "clamp_": lambda b: b.clamp_(0.0, 0.5),
    "relu_": lambda b: b.relu_(),
    "setitem": lambda b: b.__setitem__(..., 2.0),
    "setitem_index": lambda b: b.__setitem__(b.detach() > 0, 2.0),
}


def _outcome(lib: Any, view: Callable[[Any], Any], op: Callable[[Any], Any], early: bool) -> Any:
    a = lib.ones(2, 3)
    if early:  # the view is made before the leaf requires grad
        b = view(a)
        a.requires_grad = True
    else:
        a.requires_grad = True
        b = view(a)
    try:
        op(b)
    except RuntimeError as exc:
        return "error", str(exc), a.detach().tolist(), a._version
    return "ok", a.detach().tolist(), a._version


@pytest.mark.parametrize("early", [True, False], ids=["made_before", "made_after"])
@pytest.mark.parametrize("op", INPLACE.values(), ids=INPLACE.keys())
@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
def test_view_of_a_leaf_changed_in_place_is_refused_as_by_torch(view, op, early):
    ours = _outcome(tg, view, op, early)
    assert ours == _outcome(torch, view, op, early)
    assert ours[0] == "error"
    assert ours[1] == MESSAGE


@pytest.mark.parametrize("op", INPLACE.values(), ids=INPLACE.keys())
def test_allowed_under_no_grad(op):
    results = []
    for lib in (tg, torch):
        a = lib.ones(2, 3)
        b = a[:]
        a.requires_grad = True
        with lib.no_grad():
            op(b)
        # (torch also reports b.requires_grad True here, from its base: tapegrad does not)
        results.append((a.detach().tolist(), a._version, a.is_leaf, a.requires_grad))
    assert results[0] == results[1]


def test_detached_and_data_are_not_views_of_the_leaf():
    a = tg.ones(3, requires_grad=True)
    a.detach().add_(1)
    a.data.mul_(2)
    assert a.tolist() == [4.0, 4.0, 4.0] and a.is_leaf


def test_a_view_of_a_leaf_that_needs_no_grad_takes_a_recorded_change():
    results = []
    for lib in (tg, torch):
        a = lib.ones(2, 3)
        b = a[0]
        w = lib.tensor(2.0, requires_grad=True)
        b.mul_(w)
        assert a.requires_grad
        results.append((type(a.grad_fn).__name__, type(b.grad_fn).__name__, a.detach().tolist()))
        (a * lib.arange(6.0).reshape(2, 3)).sum().backward()
        results.append(w.grad.item())
    assert results[0] == results[2] and results[1] == results[3]
