"""Run one expression on tapegrad and on torch and compare the outcomes: dtype, shape, values
(signed zeros and NaN included), ``grad_fn`` name, or the exception's type and message.

Used by the elementwise families' tests (trig, special, rounding, logical, division dtypes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad as tg


def outcome(value: Callable[[], Any]) -> Any:
    """What ``value()`` gives, in a form both libraries share."""
    try:
        result = value()
    except Exception as error:  # noqa: BLE001 - the outcome compared
        return ("error", type(error).__name__, str(error).replace("torch", "tapegrad"))
    return describe(result)


def describe(result: Any) -> Any:
    """A tensor as (dtype, shape, values, grad_fn name); tuples item by item; else as is."""
    if isinstance(result, tuple):
        return tuple(describe(r) for r in result)
    if not hasattr(result, "dtype") or not hasattr(result, "grad_fn"):
        return result
    values = np.asarray(result.detach().numpy()).ravel().tolist()
    node = None if result.grad_fn is None else type(result.grad_fn).__name__
    return (str(result.dtype).split(".")[-1], tuple(result.shape), values, node)


def _close(mine: Any, theirs: Any, rtol: float) -> bool:
    if isinstance(theirs, float) and isinstance(mine, float):
        if math.isnan(theirs) or math.isnan(mine):
            return math.isnan(theirs) and math.isnan(mine)
        if theirs == 0 and mine == 0:
            return math.copysign(1, mine) == math.copysign(1, theirs)
        return math.isclose(mine, theirs, rel_tol=rtol, abs_tol=0) or mine == theirs
    if isinstance(theirs, list | tuple) and isinstance(mine, list | tuple):
        return len(mine) == len(theirs) and all(_close(m, t, rtol) for m, t in zip(mine, theirs))
    return mine == theirs


def assert_same(expr: str, env: Callable[[Any], dict[str, Any]], rtol: float = 0.0) -> None:
    """``expr`` evaluated with ``env(lib)`` as its names, ``lib`` tapegrad then torch, gives
    the same outcome; ``rtol`` allows last-bit differences of float functions. ``inplace``
    (``inplace_facts``) is among the names."""
    import torch

    names = {"inplace": inplace_facts}
    mine = outcome(lambda: eval(expr, {**names, "lib": tg, **env(tg)}))  # noqa: S307
    theirs = outcome(lambda: eval(expr, {**names, "lib": torch, **env(torch)}))  # noqa: S307
    assert _close(mine, theirs, rtol), f"{expr}: tapegrad {mine!r}, torch {theirs!r}"


def inplace_facts(t: Any, call: Callable[[Any], Any]) -> tuple[Any, ...]:
    """``call(t)`` on an in-place method: (returns t itself, version bump, t after)."""
    before = t._version
    result = call(t)
    return (result is t, t._version - before, describe(t))
