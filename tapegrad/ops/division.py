"""Division: true and rounded division, remainder, floor division and the reciprocal."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tapegrad._array import check_divisor, wrapped_int
from tapegrad._array import floor_divide as _floor_divide
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
from tapegrad.promotion import (
    _SCALARS,
    _as_tensor,
    _binary,
    _operand,
    _promote_scalar,
    _unary,
)
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
        floor = _floor_divide(a, b)
        if self.mode == "floor":
            return floor
        if np.result_type(a, b).kind in "iub":  # truncate toward 0: one up where floor went down
            return np.where((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)), floor + 1, floor)
        return np.trunc(np.true_divide(a, b))

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        zero = xp.zeros_like(g)
        return zero, zero


def _remainder(a: Any, b: Any) -> np.ndarray:
    """``a % b`` with the divisor's sign. Floats by torch's formula (``fmod``, then moved by
    one ``b`` when the signs differ), which keeps fmod's signed zeros: -7.0 % 3.5 is -0.0."""
    check_divisor(a, b)
    if np.result_type(a, b).kind != "f":
        return np.remainder(a, b)
    mod = np.fmod(a, b)
    return np.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod)


def _fmod(a: Any, b: Any) -> np.ndarray:
    """C's ``fmod``: the remainder with the dividend's sign."""
    check_divisor(a, b)
    return np.fmod(a, b)


class Remainder(Op):
    """``a % b`` with the divisor's sign; d/da = 1, d/db = -floor(a / b), as torch."""

    __slots__ = ()
    node_name = "RemainderBackward1"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 1}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return _remainder(a, b)

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
        return _remainder(a, divisor)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class Fmod(Op):
    """``fmod(a, b)``; d/da = 1, d/db = -trunc(a / b), as torch."""

    __slots__ = ()
    node_name = "FmodBackward1"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 1}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return _fmod(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (g if na is not None else None, None if nb is None else -g * xp.trunc(a / b))


class FmodScalar(RemainderScalar):
    """``fmod(tensor, number)``: the gradient passes unchanged."""

    __slots__ = ()
    node_name = "FmodBackward0"

    def forward(self, a: np.ndarray, divisor: Any) -> np.ndarray:
        self.divisor = divisor
        return _fmod(a, divisor)


class NotDifferentiable(Op):
    """torch's node for an op with no derivative (``floor_divide``, ``number % tensor``):
    the result requires grad, and a backward pass through it raises."""

    __slots__ = ("fn_name", "compute")
    node_name = "NotImplemented"

    def __init__(self, fn_name: str, compute: Any) -> None:
        self.fn_name, self.compute = fn_name, compute

    def name(self) -> str:
        """torch's name of this node."""
        return "torch::autograd::NotImplemented"

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return self.compute(a, b)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        raise RuntimeError(f"derivative for aten::{self.fn_name} is not implemented")


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


def _scalar_divisor_samples(rng: np.random.Generator) -> list[Sample]:
    """A number divisor, with quotients mid-way between integers."""
    samples = []
    for shape, other in (((2, 3), 1.5), ((4,), -2.0), ((), 2.5)):
        a = other * (rng.integers(-2, 3, shape) + rng.uniform(0.25, 0.75, shape))
        samples.append(Sample((a,), f"other={other}", {"other": other}))
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
    """``floor(self / other)``; torch has no derivative for it (``NotImplemented`` node)."""
    return self.floor_divide(other)


@declare(function=False)
def __rfloordiv__(self, other: Any) -> Tensor:
    return _divide(_FLOOR_DIVIDE, self, other, reflected=True)


@declare(function=False)
def floor_divide(self, other: Any) -> Tensor:
    """Elementwise ``floor(self / other)`` (Python's ``//``); not differentiable, as torch."""
    return _divide(_FLOOR_DIVIDE, self, other)


@declare(method=False, function="floor_divide")
def floor_divide_function(input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input // other``; ``input`` may be a number."""
    if not isinstance(input, Tensor):
        return _divide(_FLOOR_DIVIDE, _as_tensor(other), input, reflected=True)
    return input.floor_divide(other)


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
        OpInfo(
            "remainder_scalar",
            "RemainderBackward0",
            lambda ns, a, other: ns.remainder(a, other),
            lambda a, other: np.remainder(a, other),
            _scalar_divisor_samples,
        ),
    ],
)
def __mod__(self, other: Any) -> Tensor:
    """Python's (and torch's) remainder: the sign of the divisor."""
    return self.remainder(other)


@declare(function=False)
def __rmod__(self, other: Any) -> Tensor:
    return _divide(_REMAINDER_OF_NUMBER, self, other, reflected=True)


@declare(method=False, function="remainder")
def remainder_function(input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input % other``, with the divisor's sign; ``input`` may be a number."""
    if not isinstance(input, Tensor):
        return _divide(_REMAINDER_OF_NUMBER, _as_tensor(other), input, reflected=True)
    return input.remainder(other)


@declare(function=False)
def remainder(self, other: Any) -> Tensor:
    """Elementwise ``self % other`` with the divisor's sign (Python's modulo)."""
    return _divide((Remainder, RemainderScalar, "remainder_cpu"), self, other)


@declare(
    tests=[
        OpInfo(
            "fmod",
            "FmodBackward1",
            lambda ns, a, b: a.fmod(b),
            np.fmod,
            _remainder_samples,
        ),
        OpInfo(
            "fmod_scalar",
            "FmodBackward0",
            lambda ns, a, other: ns.fmod(a, other),
            lambda a, other: np.fmod(a, other),
            _scalar_divisor_samples,
        ),
    ]
)
def fmod(self, other: Any) -> Tensor:
    """Elementwise C ``fmod``: the remainder of ``self / other`` with the sign of ``self``."""
    return _divide((Fmod, FmodScalar, "fmod_cpu"), self, other)


@declare(function=False, aliases=("__imod__",))
def remainder_(self, other: Any) -> Tensor:
    """``remainder`` in place (``self %= other``)."""
    return _divide_inplace(self, other, _remainder, Tensor.remainder, "remainder_cpu")


@declare(function=False)
def fmod_(self, other: Any) -> Tensor:
    """``fmod`` in place."""
    return _divide_inplace(self, other, _fmod, Tensor.fmod, "fmod_cpu")


@declare(function=False, aliases=("__ifloordiv__",))
def floor_divide_(self, other: Any) -> Tensor:
    """``floor_divide`` in place (``self //= other``)."""
    return _divide_inplace(self, other, _floor_divide, Tensor.floor_divide, "div_floor_cpu")


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


# ------------------------------------------------------------ the integer-aware dispatch

_FLOOR_DIVIDE = (
    functools.partial(NotDifferentiable, "floor_divide", _floor_divide),
    None,
    "div_floor_cpu",
)
_REMAINDER_OF_NUMBER = (
    functools.partial(NotDifferentiable, "remainder", _remainder),
    None,
    "remainder_cpu",
)


def _divide(kind: tuple[Any, Any, str], a: Tensor, b: Any, reflected: bool = False) -> Tensor:
    """A rounded division or remainder with torch's promotion: an integer tensor with a float
    number computes in float32; ``kind`` is (tensor op, number op or None, kernel name)."""
    op_cls, scalar_cls, kernel = kind
    b = _operand(b)
    if a._data.dtype == np.bool_ and (isinstance(b, bool) or _dtype_of(b) == np.bool_):
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    if scalar_cls is None or isinstance(b, Tensor):
        return _binary(op_cls, a, b, reflected=reflected)
    a = _promote_scalar(a, b)
    return _run_op(scalar_cls(), (a,), (a._data,), divisor=_fitted(b, a._data.dtype))


def _dtype_of(x: Any) -> Any:
    return x._data.dtype if isinstance(x, Tensor) else None


def _fitted(value: Any, dtype: np.dtype) -> Any:
    """A Python int beyond an integer dtype's range wrapped around, as torch (uint8 % -2)."""
    if type(value) is int and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            return wrapped_int(value, dtype)
    return value


def _divide_inplace(t: Tensor, other: Any, fn: Any, method: Any, kernel: str) -> Tensor:
    """An in-place rounded division or remainder; the result must fit ``t``'s dtype."""
    other = _operand(other)
    if t._data.dtype == np.bool_ and (isinstance(other, bool) or _dtype_of(other) == np.bool_):
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")

    def compute(a: np.ndarray, b: Any, out: np.ndarray) -> None:
        if isinstance(b, float) and a.dtype.kind != "f":
            a = a.astype(np.float32)  # a float result: copyto refuses it below, as torch
        elif not isinstance(b, np.ndarray):
            b = _fitted(b, a.dtype)
        np.copyto(out, fn(a, b), casting="same_kind")

    return _inplace(t, compute, method, other)
