"""Helpers for tests that run the same call on tapegrad and torch and compare what comes out:
values, dtypes and shapes, or the exception type and message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad as tg


def run_both(fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    """``fn(tapegrad)`` and ``fn(torch)``: each its result or the exception it raised."""
    import torch

    out = []
    for ns in (tg, torch):
        try:
            out.append(fn(ns))
        except Exception as error:  # noqa: BLE001 - compared below
            out.append(error)
    return out[0], out[1]


def assert_same(fn: Callable[[Any], Any]) -> None:
    """Same values, dtypes and shapes (tuples compared item by item), or the same error."""
    mine, theirs = run_both(fn)
    if isinstance(theirs, Exception):
        assert type(mine) is type(theirs), f"{mine!r} vs torch's {theirs!r}"
        assert str(mine) == str(theirs).replace("torch", "tapegrad")
        return
    assert not isinstance(mine, Exception), f"{mine!r}; torch gave {theirs!r}"
    assert_values(mine, theirs)


def assert_values(mine: Any, theirs: Any) -> None:
    """A tapegrad result equals a torch one (tensors, or tuples of them)."""
    if isinstance(theirs, tuple):
        assert isinstance(mine, tuple) and len(mine) == len(theirs)
        for m, t in zip(mine, theirs):
            assert_values(m, t)
        return
    if theirs is None:
        assert mine is None
        return
    assert str(mine.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(mine.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-6)


def assert_same_grads(fn: Callable[..., Any], *arrays: np.ndarray, seed: int = 0) -> None:
    """``fn(ns, *leaves)`` on both: same result, node name and gradient of every leaf."""
    import torch

    upstream = None
    grads = []
    for ns in (tg, torch):
        leaves = [ns.tensor(a, requires_grad=True) for a in arrays]
        out = fn(ns, *leaves)
        if upstream is None:
            upstream = np.random.default_rng(seed).standard_normal(tuple(out.shape))
            mine = out
        else:
            assert_values(mine, out)
            assert mine.grad_fn.name() == type(out.grad_fn).__name__
        out.backward(ns.tensor(upstream, dtype=out.dtype))
        grads.append([leaf.grad for leaf in leaves])
    for m, t in zip(*grads):
        assert_values(m, t)
