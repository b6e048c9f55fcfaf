"""Comparing a call in tapegrad and in torch: results (values, shapes, dtypes, return types),
errors (type and message) and warnings; and gradients. Shared by the reduction, scan and
sorting tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad as tg

Case = Callable[[Any], Any]
FIELDS = ("values", "indices", "min", "max")


def spell(text: str) -> str:
    """torch's words in tapegrad's spelling; torch's C++ source note dropped."""
    return text.replace("torch.", "tapegrad.").split(" (Triggered internally")[0]


def describe(r: Any) -> Any:
    """A result as plain data: named pairs with their type and field names, tensors as
    (shape, dtype name, values)."""
    if isinstance(r, tuple):
        fields = tuple(f for f in FIELDS if hasattr(type(r), f))
        return ("pair", type(r).__name__, fields, tuple(describe(x) for x in r))
    if isinstance(r, bool | int | float):
        return ("scalar", r)
    values = np.asarray(r.detach().numpy() if hasattr(r, "detach") else r.numpy())
    return ("tensor", tuple(r.shape), str(r.dtype).split(".")[-1], values)


def outcome(lib: Any, case: Case, message: bool = True) -> tuple[Any, list[str]]:
    """What a case gives in ``lib``: its result or error, and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = describe(case(lib))
        except Exception as exc:  # noqa: BLE001 - the error is what is compared
            got = ("error", type(exc).__name__, spell(str(exc)) if message else "")
    return got, [spell(str(w.message)) for w in caught]


def assert_same(mine: Any, theirs: Any, rtol: float = 1e-6) -> None:
    """Equal results; floats to ``rtol`` (NaN equal to NaN)."""
    if isinstance(theirs, np.ndarray):
        assert isinstance(mine, np.ndarray)
        assert mine.shape == theirs.shape
        if theirs.dtype.kind == "f":
            np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=1e-12, equal_nan=True)
        else:
            np.testing.assert_array_equal(mine, theirs)
    elif isinstance(theirs, tuple):
        assert isinstance(mine, tuple) and len(mine) == len(theirs), (mine, theirs)
        for a, b in zip(mine, theirs):
            assert_same(a, b, rtol)
    else:
        assert mine == theirs


def compare(case: Case, message: bool = True, rtol: float = 1e-6) -> None:
    """The case gives the same result, error and warnings in tapegrad as in torch."""
    torch = pytest.importorskip("torch")
    assert_same(outcome(tg, case, message), outcome(torch, case, message), rtol)


def compare_grad(
    fn: Callable[[Any, Any], Any], x: np.ndarray, create_graph: bool = False, seed: int = 3
) -> None:
    """``fn(lib, x)``'s value, node name and gradient (and, with ``create_graph``, a second
    derivative) agree with torch, for a float64 ``x`` and a random upstream gradient."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    xt = torch.tensor(x, requires_grad=True)
    xg = tg.tensor(x, requires_grad=True)
    yt, yg = fn(torch, xt), fn(tg, xg)
    np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=1e-10, equal_nan=True)
    assert yg.grad_fn.name() == type(yt.grad_fn).__name__
    up = rng.standard_normal(tuple(yt.shape))
    (gt,) = torch.autograd.grad(yt, xt, torch.tensor(up), create_graph=create_graph)
    (gg,) = tg.autograd.grad(yg, xg, tg.tensor(up), create_graph=create_graph)
    np.testing.assert_allclose(gg.detach().numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    if create_graph:
        w = rng.standard_normal(x.shape)
        if gt.grad_fn is None:  # torch's gradient is constant: no second derivative
            if gg.requires_grad:
                (ggg,) = tg.autograd.grad((gg * tg.tensor(w)).sum(), xg, allow_unused=True)
                assert ggg is None or not ggg.numpy().any()
            return
        (ggt,) = torch.autograd.grad((gt * torch.tensor(w)).sum(), xt)
        (ggg,) = tg.autograd.grad((gg * tg.tensor(w)).sum(), xg)
        np.testing.assert_allclose(ggg.numpy(), ggt.numpy(), rtol=1e-10, atol=1e-12)
