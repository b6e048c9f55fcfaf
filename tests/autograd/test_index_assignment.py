"""``y[key] = value`` recorded as torch records it: node names, edges, values, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

Build = Callable[[Any], Any]


def _names(node: Any) -> list[str | None]:
    return [None if n is None else type(n).__name__ for n, _ in node.next_functions]


def _assign(lib: Any, shape: tuple[int, ...], key: Build, value: Build | None) -> dict[str, Any]:
    """``y = x * 2; y[key] = value``, then a weighted sum's gradients: all that is compared."""
    n = int(np.prod(shape))
    x = lib.tensor(np.linspace(-1, 1, n).reshape(shape), dtype=lib.float64, requires_grad=True)
    y = x * 2
    v = value(lib) if value is not None else 3.5
    y[key(lib)] = v
    out = {
        "node": type(y.grad_fn).__name__,
        "edges": _names(y.grad_fn),
        "values": y.tolist(),
        "version": y._version,
    }
    weights = lib.arange(1.0, n + 1, dtype=lib.float64).reshape(shape)
    (y * weights).sum().backward()
    out["x.grad"] = x.grad.tolist()
    if isinstance(v, lib.Tensor) and v.requires_grad:
        out["value.grad"] = v.grad.tolist()
    return out


def _leaf(*shape: int) -> Build:
    data = np.arange(1.0, 1 + int(np.prod(shape))).reshape(shape) / 10
    return lambda L: L.tensor(data, dtype=L.float64, requires_grad=True)


def _mask(L: Any) -> Any:
    return L.tensor([[True, False, True]] * 2 + [[False, True, False]] * 2)


CASES: dict[str, tuple[tuple[int, ...], Build, Build | None]] = {
    "int_scalar": ((4, 3), lambda L: 1, None),
    "int_tensor": ((4, 3), lambda L: 1, _leaf(3)),
    "int_0d": ((4, 3), lambda L: 1, _leaf()),
    "int_broadcast_1": ((4, 3), lambda L: 1, _leaf(1)),
    "slice": ((4, 3), lambda L: slice(1, 3), _leaf(2, 3)),
    "slice_broadcast": ((4, 3), lambda L: slice(1, 3), _leaf(3)),
    "slice_step": ((5, 3), lambda L: slice(0, 5, 2), _leaf(3, 1)),
    "column": ((4, 3), lambda L: (slice(None), 1), _leaf(4)),
    "ellipsis_none": ((4, 3), lambda L: (..., None), _leaf(4, 3, 1)),
    "none": ((4, 3), lambda L: None, None),
    "true": ((4, 3), lambda L: True, _leaf(3)),
    "ellipsis_scalar": ((4, 3), lambda L: ..., None),
    "ellipsis_0d": ((4, 3), lambda L: ..., _leaf()),
    "full_slice_copy": ((4, 3), lambda L: slice(None), _leaf(4, 3)),
    "full_slice_broadcast": ((4, 3), lambda L: slice(None), _leaf(3)),
    "ellipsis_leading_one": ((4, 3), lambda L: ..., _leaf(1, 3)),
    "full_slice_one": ((4, 3), lambda L: slice(None), _leaf(1)),
    "mask_scalar": ((4, 3), lambda L: _mask(L), None),
    "mask_values": ((4, 3), lambda L: _mask(L), _leaf(6)),
    "mask_0d": ((4, 3), lambda L: _mask(L), _leaf()),
    "mask_one": ((4, 3), lambda L: _mask(L), _leaf(1)),
    "row_mask": ((4, 3), lambda L: L.tensor([True, False, True, False]), _leaf(3)),
    "list": ((4, 3), lambda L: [0, 2], _leaf(3)),
    "list_scalar": ((4, 3), lambda L: [0, 2], None),
    "list_rows": ((4, 3), lambda L: [0, 2], _leaf(2, 3)),
    "list_leading_one": ((4, 3), lambda L: [0, 2], _leaf(1, 1, 3)),
    "index_tensor": ((4, 3), lambda L: L.tensor([3, 0, 1]), _leaf(3, 3)),
    "two_lists": ((4, 3), lambda L: ([0, 1, 3], [2, 0, 1]), _leaf(3)),
    "column_list": ((4, 3), lambda L: (slice(None), [0, 2]), _leaf(4, 2)),
    "int_then_list": ((4, 3), lambda L: (0, [0, 2]), None),
    "slice_then_list": ((4, 3), lambda L: (slice(1, 3), [0, 2]), _leaf(2)),
    "empty_list": ((4, 3), lambda L: L.tensor([], dtype=L.int64), None),
    "int_int_0d": ((4, 3), lambda L: (1, 2), _leaf()),
    "3d_middle": ((2, 3, 4), lambda L: (slice(None), 1, slice(1, 3)), _leaf(2, 2)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_assignment_matches_torch(case: tuple[Any, ...]) -> None:
    ours, theirs = _assign(tg, *case), _assign(torch, *case)
    for name in theirs:
        if name in ("values", "x.grad", "value.grad"):
            np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, err_msg=name)
        else:
            assert ours[name] == theirs[name], name
    assert ours.keys() == theirs.keys()


def _into_plain(lib: Any, key: Build, value: Build) -> dict[str, Any]:
    """A tensor that needs no gradient takes a value that does."""
    y = lib.zeros(4, 3, dtype=lib.float64)
    v = value(lib)
    y[key(lib)] = v
    out = {"node": type(y.grad_fn).__name__, "edges": _names(y.grad_fn)}
    out["requires_grad"] = y.requires_grad
    (y * lib.arange(12.0, dtype=lib.float64).reshape(4, 3)).sum().backward()
    out["value.grad"] = v.grad.tolist()
    return out


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (lambda L: 1, _leaf(3)),
        (lambda L: [0, 2], _leaf(3)),
        (lambda L: ..., _leaf()),
        (lambda L: slice(None), _leaf(4, 3)),
        (lambda L: _mask(L), _leaf(6)),
    ],
    ids=["int", "list", "fill", "copy", "mask"],
)
def test_a_value_that_requires_grad_makes_the_target_require_it(key: Build, value: Build):
    assert _into_plain(tg, key, value) == _into_plain(torch, key, value)


def test_assignment_to_a_leaf_that_requires_grad_is_refused_as_by_torch():
    for key in (1, [0, 1], ..., slice(None), (slice(None), 0), None):
        messages = []
        for lib in (tg, torch):
            a = lib.ones(3, 2, requires_grad=True)
            with pytest.raises(RuntimeError) as info:
                a[key] = 5.0
            messages.append(str(info.value))
        assert messages[0] == messages[1], key
    a = tg.ones(3, requires_grad=True)
    with tg.no_grad():
        a[0] = 5.0
    assert a.tolist() == [5.0, 1.0, 1.0] and a.is_leaf and a._version == 1


def _views_after(lib: Any) -> dict[str, Any]:
    x = lib.tensor(np.arange(12.0).reshape(4, 3), dtype=lib.float64, requires_grad=True)
    y = x * 1
    row, col, flat = y[0], y.t()[1], y.view(12)
    y[0, 1] = 100.0
    y[[2, 3]] = lib.tensor(-1.0, dtype=lib.float64)
    out = {
        "names": [type(v.grad_fn).__name__ for v in (row, col, flat)],
        "next": [type(v.grad_fn.next_functions[0][0]).__name__ for v in (row, col, flat)],
        "values": [v.tolist() for v in (row, col, flat)],
    }
    (row * 2).sum().backward(retain_graph=True)
    (col * 3).sum().backward(retain_graph=True)
    (flat * lib.arange(12.0, dtype=lib.float64)).sum().backward()
    out["x.grad"] = x.grad.tolist()
    return out


def test_views_made_before_see_the_new_values_and_are_rebased():
    assert _views_after(tg) == _views_after(torch)


def _through_a_view(lib: Any) -> dict[str, Any]:
    x = lib.tensor(np.arange(12.0).reshape(4, 3), dtype=lib.float64, requires_grad=True)
    w = lib.tensor([5.0, 6.0], dtype=lib.float64, requires_grad=True)
    y = x * 2
    v = y[1]
    v[[0, 2]] = w
    out = {
        "y": type(y.grad_fn).__name__,
        "y.next": _names(y.grad_fn),
        "v": type(v.grad_fn).__name__,
        "values": y.tolist(),
        "versions": (y._version, v._version),
    }
    (y * lib.arange(12.0, dtype=lib.float64).reshape(4, 3)).sum().backward()
    out["grads"] = (x.grad.tolist(), w.grad.tolist())
    return out


def test_assignment_into_a_view_rebases_its_base():
    assert _through_a_view(tg) == _through_a_view(torch)


def _saved_then_assigned(lib: Any) -> str:
    x = lib.ones(3, requires_grad=True)
    y = x * 2
    z = y.exp()  # saves its result
    z[0] = 0.0
    with pytest.raises(RuntimeError) as info:
        z.sum().backward()
    return str(info.value).split(" Hint:")[0]


def test_a_saved_tensor_assigned_into_is_caught():
    ours, theirs = _saved_then_assigned(tg), _saved_then_assigned(torch)
    assert "modified by an inplace operation" in ours
    # torch names the tensor by its legacy type (FloatTensor) there
    assert ours.split("]]")[1] == theirs.split("]]")[1]


def test_second_order_through_an_assignment_matches_torch():
    outs = []
    for lib in (tg, torch):
        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([1.5, 0.5], dtype=lib.float64, requires_grad=True)
        y = x**3
        y[[0, 2]] = w**2
        y[1:2] = x[1:2] * w[0]
        (gx, gw) = lib.autograd.grad(y.sum(), (x, w), create_graph=True)
        (gx * gx).sum().backward()
        (gw * gw).sum().backward()
        outs.append([gx.tolist(), gw.tolist(), x.grad.tolist(), w.grad.tolist()])
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gradcheck_through_assignments():
    def f(x: Any, v: Any) -> Any:
        y = x * x
        y[1:3, 0] = v
        y[[0, 3]] = v.sum() * 2
        return y

    x = tg.randn(4, 2, dtype=tg.float64, generator=None, requires_grad=True)
    v = tg.randn(2, dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(f, (x, v))
    assert tg.autograd.gradgradcheck(f, (x, v))


def test_not_recorded_without_grad_mode_or_gradients():
    y = tg.ones(3)
    y[0] = 2.0
    assert y.grad_fn is None and y._version == 1
    x = tg.ones(3, requires_grad=True)
    y = x * 1
    with tg.no_grad():
        y[1] = 5.0
    assert type(y.grad_fn).__name__ == "MulBackward0" and y._version == 1


def _inplace_on_view(lib: Any, change: Callable[[Any, Any], Any]) -> dict[str, Any]:
    x = lib.tensor(np.linspace(-1, 1, 12).reshape(4, 3), dtype=lib.float64, requires_grad=True)
    w = lib.tensor([0.5, 2.0, -1.0], dtype=lib.float64, requires_grad=True)
    y = x * 2
    other = y[2]
    v = y[1:3]
    change(v, w)
    out = {
        "names": [type(t.grad_fn).__name__ for t in (y, v, other)],
        "y.next": _names(y.grad_fn),
        "values": y.tolist(),
    }
    (y * lib.arange(12.0, dtype=lib.float64).reshape(4, 3)).sum().backward(retain_graph=True)
    (other * other).sum().backward()
    out["grads"] = (x.grad.tolist(), w.grad.tolist())
    return out


CHANGES: dict[str, Callable[[Any, Any], Any]] = {
    "mul_": lambda v, w: v.mul_(w),
    "add_": lambda v, w: v.add_(w * 2),
    "div_": lambda v, w: v.div_(w),
    "copy_": lambda v, w: v.copy_(w),
    "setitem_then_mul_": lambda v, w: (v.__setitem__((0, 1), w[0]), v[1].mul_(w)),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_inplace_op_on_a_view_of_a_non_leaf_matches_torch(change):
    ours, theirs = _inplace_on_view(tg, change), _inplace_on_view(torch, change)
    assert ours["names"] == theirs["names"] and ours["y.next"] == theirs["y.next"]
    np.testing.assert_allclose(ours["values"], theirs["values"], rtol=1e-12)
    for a, b in zip(ours["grads"], theirs["grads"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
