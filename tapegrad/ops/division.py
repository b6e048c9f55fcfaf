"""Division: true and rounded division, remainder, floor division and the reciprocal."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tapegrad._array import check_divisor, floor_divide
from tapegrad.inplace import _inplace
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import (
    OpInfo,
    Sample,
    away_from_zero,
    binary_samples,
    normal,
    positive,
    unary_samples,
)
from tapegrad.promotion import _SCALARS, _binary, _compare, _unary
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class Div(Op):
    __slots__ = ()
    node_name = "DivBackward0"
    int_to_float = True  # true division of integer tensors computes in float32
    saves = (0, 1)
    saved_only_for = {0: 1}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a / b

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (g / b if na is not None else None, -g * a / (b * b) if nb is not None else None)


class DivScalar(Op):
    """``tensor / number`` as torch's C++ losses record it (the Scalar overload)."""

    __slots__ = ("divisor",)
    node_name = "DivBackward1"

    def forward(self, a: np.ndarray, divisor: Any) -> np.ndarray:
        self.divisor = divisor
        return a / divisor

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g / self.divisor,)


class DivRounded(Op):
    """``div(a, b, rounding_mode='floor' | 'trunc')``: piecewise constant, so both
    gradients are 0, as torch's DivBackward2."""

    __slots__ = ("mode",)
    node_name = "DivBackward2"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def forward(self, a: Any, b: Any) -> np.ndarray:
        floor = floor_divide(a, b)
        if self.mode == "floor":
            return floor
        if np.result_type(a, b).kind in "iub":  # truncate toward 0: one up where floor went down
            return np.where((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)), floor + 1, floor)
        return np.trunc(np.true_divide(a, b))

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        zero = xp.zeros_like(g)
        return zero, zero


class Remainder(Op):
    """``a % b`` with the divisor's sign; d/da = 1, d/db = -floor(a / b), as torch."""

    __slots__ = ()
    node_name = "RemainderBackward1"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 1}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        check_divisor(a, b)
        return np.remainder(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        quotient = None if nb is None else xp.floor_divide(a, b)
        return (g if na is not None else None, None if nb is None else -g * quotient)


class RemainderScalar(Op):
    """``tensor % number``: the gradient passes unchanged."""

    __slots__ = ("divisor",)
    node_name = "RemainderBackward0"

    def forward(self, a: np.ndarray, divisor: Any) -> np.ndarray:
        self.divisor = divisor
        check_divisor(a, divisor)
        return np.remainder(a, divisor)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class Reciprocal(Op):
    __slots__ = ()
    node_name = "ReciprocalBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.reciprocal(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (-g * (out * out),)


# ------------------------------------------------------------- registry samples


def _remainder_samples(rng: np.random.Generator) -> list[Sample]:
    """Dividends whose quotient sits mid-way between integers, so ``a % b`` is smooth there."""
    samples = []
    for shape, desc in (((2, 3), "same shape"), ((3,), "vector")):
        b = rng.uniform(1.5, 2.5, shape) * rng.choice([-1.0, 1.0], shape)
        a = b * (rng.integers(-2, 3, shape) + rng.uniform(0.25, 0.75, shape))
        samples.append(Sample((a, b), desc))
    return samples


# ------------------------------------------------- Tensor methods and functions


@declare(
    function=False,
    tests=[
        OpInfo(
            "div",
            "DivBackward0",
            lambda ns, a, b: a / b,
            np.divide,
            binary_samples(normal, positive),
        ),
        OpInfo(
            "div_scalar",
            "DivBackward0",
            lambda ns, a: a / 4.0,
            lambda a: a / 4.0,
            unary_samples(normal),
        ),
    ],
)
def __truediv__(self, other: Any) -> Tensor:
    return _binary(Div, self, other)


@declare(
    function=False,
    tests=[
        OpInfo(
            "rdiv_scalar",
            "MulBackward0",
            lambda ns, a: 2.0 / a,
            lambda a: 2.0 / a,
            unary_samples(positive),
        ),
    ],
)
def __rtruediv__(self, other: Any) -> Tensor:
    if isinstance(other, _SCALARS):
        return self.reciprocal() * other
    return _binary(Div, self, other, reflected=True)


@declare(function=False)
def __floordiv__(self, other: Any) -> Tensor:
    """``floor(self / other)``; not differentiable (torch has no derivative for it)."""
    return _compare(floor_divide, self, other)


@declare(function=False)
def __rfloordiv__(self, other: Any) -> Tensor:
    return _compare(lambda a, b: floor_divide(b, a), self, other)


@declare(
    function=False,
    tests=[
        OpInfo(
            "remainder",
            "RemainderBackward1",
            lambda ns, a, b: a % b,
            np.remainder,
            _remainder_samples,
        ),
    ],
)
def __mod__(self, other: Any) -> Tensor:
    """Python's (and torch's) remainder: the sign of the divisor."""
    if isinstance(other, _SCALARS):
        return _run_op(RemainderScalar(), (self,), (self._data,), divisor=other)
    return _binary(Remainder, self, other)


@declare(function=False)
def __rmod__(self, other: Any) -> Tensor:
    return _binary(Remainder, self, other, reflected=True)


@declare()
def div(self, other: Any, rounding_mode: str | None = None) -> Tensor:
    """Elementwise division: true, or rounded by ``'floor'`` or ``'trunc'``."""
    if rounding_mode is None:
        return _binary(Div, self, other)
    if rounding_mode not in ("floor", "trunc"):
        raise RuntimeError(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"'{rounding_mode}'"
        )
    return _binary(functools.partial(DivRounded, rounding_mode), self, other)


@declare(
    tests=[
        OpInfo(
            "reciprocal",
            "ReciprocalBackward0",
            lambda ns, a: a.reciprocal(),
            np.reciprocal,
            unary_samples(away_from_zero),
        ),
    ]
)
def reciprocal(self) -> Tensor:
    """``1 / self``."""
    return _unary(Reciprocal, self)


@declare(function=False, aliases=("__itruediv__",))
def div_(self, other: Any) -> Tensor:
    """In-place ``self /= other``."""
    return _inplace(self, np.true_divide, Tensor.div, other)
