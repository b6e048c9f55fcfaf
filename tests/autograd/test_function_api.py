"""The custom Function API as torch's tests use it, each behaviour compared with torch:
mark_dirty, needs_input_grad, mark_non_differentiable, set_materialize_grads,
once_differentiable, an output returned twice, saved tensor checks, and calling nodes."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")
LIBS = [tg, torch]


def _msg(exc: BaseException) -> str:
    return str(exc).replace("torch.", "tapegrad.").split(" Hint:")[0]


def _name(node: Any) -> str | None:
    return None if node is None else type(node).__name__


def _functions(lib: Any) -> Any:
    """The same Functions written against ``lib``."""
    Function = lib.autograd.Function  # noqa: N806 - a class
    once = importlib.import_module(f"{lib.__name__}.autograd.function").once_differentiable
    seen: dict[str, Any] = {}

    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class DirtyNotReturned(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    class Needs(Function):
        @staticmethod
        def forward(ctx, x, k, y, flag):
            seen["forward"] = ctx.needs_input_grad
            return x * k + y

        @staticmethod
        def backward(ctx, g):
            seen["backward"] = ctx.needs_input_grad
            return g * 3, None, g, None

    class WithIndex(Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            out, index = x * 2, x * 3
            ctx.mark_non_differentiable(index)
            return out, index

        @staticmethod
        def backward(ctx, g, g_index):
            seen["grads"] = (None if g is None else g.tolist(), _list(g_index))
            return g * 2, None

    class Pair(Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            seen["pair"] = (_list(ga), _list(gb))
            return (ga if ga is not None else gb * 0) * 2, None

    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            return y, y

        @staticmethod
        def backward(ctx, g1, g2):
            seen["twice"] = (_list(g1), _list(g2))
            return (g1 + g2) * 2

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        @once
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            seen["once"] = (lib.is_grad_enabled(), g.requires_grad)
            return g * 2 * x

    class SaveInput(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x

    class SaveOutput(Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            seen["saved_output_node"] = _name(out.grad_fn)
            return g * out

    class Affine(Function):
        @staticmethod
        def forward(ctx, x, k, w):
            return x * k + w, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2, None, g1

    return seen, locals()


def _list(t: Any) -> Any:
    return None if t is None else t.tolist()


def _f64(lib: Any, values: Any, grad: bool = True) -> Any:
    return lib.tensor(values, dtype=lib.float64, requires_grad=grad)


# ----------------------------------------------------------------------------- mark_dirty


def _dirty(lib: Any) -> dict[str, Any]:
    _, F = _functions(lib)
    x = _f64(lib, [1.0, 2.0, 3.0])
    y = x * 1
    z = F["Double"].apply(y)
    out = {
        "same": z is y,
        "node": _name(y.grad_fn),
        "next": [_name(n) for n, _ in y.grad_fn.next_functions],
        "version": y._version,
        "values": y.tolist(),
    }
    (y * _f64(lib, [1.0, 2.0, 3.0], False)).sum().backward()
    out["grad"] = x.grad.tolist()
    return out


def test_mark_dirty_returns_the_input_rebased_as_torch():
    assert _dirty(tg) == _dirty(torch)


def _dirty_view(lib: Any) -> dict[str, Any]:
    _, F = _functions(lib)
    x = _f64(lib, [1.0, 2.0, 3.0])
    y = x * 1
    v = y[:2]
    z = F["Double"].apply(v)
    out = {"same": z is v, "nodes": (_name(y.grad_fn), _name(v.grad_fn)), "y": y.tolist()}
    (y * _f64(lib, [1.0, 10.0, 100.0], False)).sum().backward()
    out["grad"] = x.grad.tolist()
    return out


def test_mark_dirty_on_a_view_rebases_its_base():
    assert _dirty_view(tg) == _dirty_view(torch)


def _dirty_errors(lib: Any) -> list[Any]:
    _, F = _functions(lib)
    found = []
    for fn, arg in ((F["Double"], _f64(lib, [1.0])), (F["DirtyNotReturned"], _f64(lib, [1.0]) * 1)):
        with pytest.raises(RuntimeError) as info:
            fn.apply(arg)
        found.append(_msg(info.value))
    plain = lib.ones(3)
    z = F["Double"].apply(plain)
    found.append((z is plain, z.requires_grad, plain._version, plain.tolist()))
    return found


def test_mark_dirty_errors_and_untracked_inputs_as_torch():
    assert _dirty_errors(tg) == _dirty_errors(torch)


# -------------------------------------------------------------------------- needs_input_grad


def _needs(lib: Any) -> dict[str, Any]:
    seen, F = _functions(lib)
    x = _f64(lib, [1.0, 2.0])
    r = F["Needs"].apply(x, 3, _f64(lib, [1.0, 1.0], False), True)
    r.sum().backward()
    found = {"recorded": dict(seen), "grad": x.grad.tolist()}
    with lib.no_grad():
        F["Needs"].apply(x, 3, _f64(lib, [1.0, 1.0]), True)
    found["no_grad"] = seen["forward"]
    return found


def test_needs_input_grad_has_one_bool_per_argument():
    ours = _needs(tg)
    assert ours == _needs(torch)
    assert ours["recorded"]["forward"] == (True, False, False, False)


# ----------------------------------------------- mark_non_differentiable, materialize_grads


@pytest.mark.parametrize("materialize", [True, False])
def test_non_differentiable_outputs(materialize):
    results = []
    for lib in LIBS:
        seen, F = _functions(lib)
        x = _f64(lib, [1.0, 2.0, 3.0])
        out, index = F["WithIndex"].apply(x, materialize)
        state = (out.requires_grad, index.requires_grad, index.is_leaf, index.grad_fn is None)
        out.sum().backward()
        results.append((state, seen["grads"], x.grad.tolist()))
    assert results[0] == results[1]


@pytest.mark.parametrize("materialize", [True, False])
def test_set_materialize_grads(materialize):
    results = []
    for lib in LIBS:
        seen, F = _functions(lib)
        x = _f64(lib, [1.0, 2.0])
        a, _ = F["Pair"].apply(x, materialize)
        a.sum().backward()
        results.append((seen["pair"], x.grad.tolist()))
    assert results[0] == results[1]


def test_an_output_returned_twice_is_one_object():
    results = []
    for lib in LIBS:
        seen, F = _functions(lib)
        x = _f64(lib, [1.0, 2.0])
        a, b = F["Twice"].apply(x)
        assert a is b
        (a.sum() + b.sum()).backward()
        results.append((seen["twice"], x.grad.tolist()))
    assert results[0] == results[1]


# ------------------------------------------------------------------------ once_differentiable


def _once(lib: Any) -> dict[str, Any]:
    seen, F = _functions(lib)
    x = _f64(lib, [1.0, 2.0])
    (gx,) = lib.autograd.grad(F["Square"].apply(x).sum(), x, create_graph=True)
    found = {"plain": (gx.tolist(), gx.requires_grad, seen["once"])}
    g = _f64(lib, [1.0, 1.0])
    (gx,) = lib.autograd.grad(F["Square"].apply(x), x, g, create_graph=True)
    found["marked"] = (_name(gx.grad_fn), [_name(n) for n, _ in gx.grad_fn.next_functions])
    with pytest.raises(RuntimeError) as info:
        gx.sum().backward()
    found["error"] = _msg(info.value)
    return found


def test_once_differentiable_runs_without_recording_and_refuses_a_second_order():
    ours = _once(tg)
    assert ours == _once(torch)
    assert "differentiate twice" in ours["error"]


# ------------------------------------------------------------------------------ saved tensors


def _saved(lib: Any) -> list[Any]:
    seen, F = _functions(lib)
    found = []
    x = _f64(lib, [1.0, 2.0]) * 1
    o = F["SaveInput"].apply(x)
    x.add_(1)
    with pytest.raises(RuntimeError) as info:
        o.sum().backward()
    found.append(_msg(info.value).split("]]")[1])  # torch names the legacy type first
    a = _f64(lib, [1.0, 2.0])
    o = F["SaveOutput"].apply(a)
    (o * 1).sum().backward(retain_graph=True)
    found.append((seen["saved_output_node"], a.grad.tolist()))
    o.add_(1)
    with pytest.raises(RuntimeError) as info:
        o.sum().backward()
    found.append(_msg(info.value).split("]]")[1])
    return found


def test_saved_tensors_are_checked_for_in_place_changes():
    ours = _saved(tg)
    assert ours == _saved(torch)
    assert "output 0 of SaveOutput" in ours[2]


def test_saved_tensors_freed_after_backward():
    for lib in LIBS:
        _, F = _functions(lib)
        x = _f64(lib, [1.0])
        o = F["SaveInput"].apply(x)
        o.sum().backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            o.sum().backward()


# ----------------------------------------------------------------------------- calling nodes


def _call(lib: Any) -> list[Any]:
    a, b = _f64(lib, [1.0, 2.0, 3.0]), _f64(lib, [4.0, 5.0, 6.0])
    ones = lib.ones(3, dtype=lib.float64)
    found: list[Any] = []

    def show(r: Any) -> Any:
        if isinstance(r, tuple):
            return tuple(show(t) for t in r)
        return None if r is None else (r.tolist(), r.requires_grad, _name(r.grad_fn))

    z = a * b
    found.append(show(z.grad_fn(ones)))
    found.append(show((a * 2).grad_fn(ones)))
    found.append(show(a.sum().grad_fn(lib.tensor(2.0, dtype=lib.float64))))
    found.append(show(a.exp().grad_fn(ones)))
    x = lib.ones(2, 3, dtype=lib.float64, requires_grad=True)
    found.append(show((x * 1)[0].grad_fn(ones)))
    with lib.no_grad():
        found.append(show(z.grad_fn(ones)))
    for args in ((), (ones, ones)):
        with pytest.raises(TypeError) as info:
            z.grad_fn(*args)
        found.append(str(info.value))
    found.append(show(z.grad_fn.next_functions[0][0](ones)))
    found.append(a.grad.tolist())
    z.sum().backward()
    with pytest.raises(RuntimeError) as info:
        z.grad_fn(ones)
    found.append(_msg(info.value))
    return found


def test_calling_a_built_in_node_runs_its_backward():
    assert _call(tg) == _call(torch)


def _call_custom(lib: Any) -> list[Any]:
    _, F = _functions(lib)
    a, b = _f64(lib, [1.0, 2.0, 3.0]), _f64(lib, [4.0, 5.0, 6.0])
    ones = lib.ones(3, dtype=lib.float64)
    o1, _ = F["Affine"].apply(a, 3, b)
    found: list[Any] = [
        tuple(None if g is None else g.tolist() for g in o1.grad_fn.apply(ones, ones))
    ]
    with pytest.raises(TypeError) as info:
        o1.grad_fn(ones, ones)
    found.append(str(info.value))
    return found


def test_a_function_node_is_applied_not_called():
    assert _call_custom(tg) == _call_custom(torch)
    np.testing.assert_equal(_call_custom(tg)[0][1], None)
