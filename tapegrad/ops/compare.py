"""Comparisons, logical and bitwise operators (outside the graph), and the differentiable
selections maximum, minimum and where."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from tapegrad._array import broadcast_error
from tapegrad._dtypes import _scalar_type_name
from tapegrad.ops.base import HoldingOp, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, away_from_zero, binary_samples, normal
from tapegrad.promotion import _as_tensor, _binary, _compare, _promote_scalar, _result_dtype
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# -------------------------------------------------------------------------- ops


class Maximum(Op):
    """Ties split the gradient evenly between the two inputs, as PyTorch."""

    __slots__ = ()
    node_name = "MaximumBackward0"
    saves = (0, 1)
    _pick = staticmethod(np.maximum)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._pick(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        # torch's masks: each input loses the gradient only where it strictly lost, so both
        # keep it where a NaN makes the comparisons false
        a_lost, b_lost = (a < b, a > b) if self._pick is np.maximum else (a > b, a < b)
        shared = xp.where(a == b, g * 0.5, g)
        return xp.where(a_lost, 0, shared), xp.where(b_lost, 0, shared)


class Minimum(Maximum):
    __slots__ = ()
    node_name = "MinimumBackward0"
    _pick = staticmethod(np.minimum)


class Where(HoldingOp):
    """``where(cond, a, b)``; the condition is a constant, not an input of the node."""

    node_name = "WhereBackward0"
    held = ("cond",)

    def forward(self, a: Any, b: Any, cond: np.ndarray) -> np.ndarray:
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return xp.where(self.cond, g, 0), xp.where(self.cond, 0, g)


# ------------------------------------------------- Tensor methods and functions


@declare(function=False)
def __lt__(self, other: Any) -> Tensor:
    return _compare(np.less, self, other)


@declare(function=False)
def __le__(self, other: Any) -> Tensor:
    return _compare(np.less_equal, self, other)


@declare(function=False)
def __gt__(self, other: Any) -> Tensor:
    return _compare(np.greater, self, other)


@declare(function=False)
def __ge__(self, other: Any) -> Tensor:
    return _compare(np.greater_equal, self, other)


@declare(function=False)
def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
    if not isinstance(other, _COMPARABLE):
        return NotImplemented  # as torch: t == None is False, t != 'a' is True
    return _compare(np.equal, self, other)


@declare(function=False)
def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
    if not isinstance(other, _COMPARABLE):
        return NotImplemented
    return _compare(np.not_equal, self, other)


@declare()
def eq(self, other: Any) -> Tensor:
    """Elementwise ``==`` as a bool tensor."""
    return self == other


@declare(function=False, aliases=("__rand__",))
# bitwise, as torch: logical on bool tensors, bit by bit on integer ones
def __and__(self, other: Any) -> Tensor:
    return _bitwise(np.bitwise_and, "bitwise_and", self, other)


@declare(function=False, aliases=("__ror__",))
def __or__(self, other: Any) -> Tensor:
    return _bitwise(np.bitwise_or, "bitwise_or", self, other)


@declare(function=False, aliases=("__rxor__",))
def __xor__(self, other: Any) -> Tensor:
    return _bitwise(np.bitwise_xor, "bitwise_xor", self, other)


@declare(function=False)
def __invert__(self) -> Tensor:
    if self._data.dtype.kind == "f":
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    if self._data.dtype != np.bool_:
        return _wrap(np.invert(self._data))
    return _wrap(np.logical_not(self._data))


@declare()
def allclose(
    self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> bool:
    """True when every element is close (``isclose``, with its checks and errors)."""
    return bool(np.all(self.isclose(other, rtol, atol, equal_nan)._data))


@declare(
    tests=[
        OpInfo(
            "maximum",
            "MaximumBackward0",
            lambda ns, a, b: ns.maximum(a, b),
            np.maximum,
            binary_samples(normal),
        ),
    ]
)
def maximum(self, other: Tensor) -> Tensor:
    """Elementwise maximum of two tensors; ties split the gradient."""
    return _binary(Maximum, self, _as_tensor(other))


@declare(
    tests=[
        OpInfo(
            "minimum",
            "MinimumBackward0",
            lambda ns, a, b: ns.minimum(a, b),
            np.minimum,
            binary_samples(normal),
        ),
    ]
)
def minimum(self, other: Tensor) -> Tensor:
    """Elementwise minimum of two tensors; ties split the gradient."""
    return _binary(Minimum, self, _as_tensor(other))


_COMPARABLE = (Tensor, numbers.Number, np.ndarray, np.generic)  # what == compares with
_NOTHING: Any = object()  # where()'s missing arguments (None could be a value)


@declare(
    method=False,
    tests=[
        OpInfo(
            "where",
            "WhereBackward0",
            lambda ns, a, b: ns.where(a > 0, a, b),
            lambda a, b: np.where(a > 0, a, b),
            binary_samples(away_from_zero, normal),
        ),
    ],
)
def where(condition: Tensor, input: Any = _NOTHING, other: Any = _NOTHING) -> Any:  # noqa: A002
    """``input`` where ``condition`` is true, else ``other`` (broadcast together). With the
    condition alone: the indices of its nonzero elements, one int64 tensor per dimension."""
    if input is _NOTHING and other is _NOTHING:
        data = _as_tensor(condition)._data
        return tuple(_wrap(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(data)))
    if input is _NOTHING or other is _NOTHING:
        raise TypeError("where() takes a condition alone, or a condition, input and other")
    cond = _as_tensor(condition)._data
    if cond.dtype != np.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor "
            f"with dtype {_scalar_type_name(cond.dtype)}"
        )
    a = input if isinstance(input, Tensor) else None
    b = other if isinstance(other, Tensor) else None
    if a is None and b is None:
        return _wrap(
            np.where(cond, input, other).astype(
                np.float32 if isinstance(input, float) or isinstance(other, float) else np.int64
            )
        )
    ad = a._data if a is not None else input
    bd = b._data if b is not None else other
    if a is not None and b is not None and ad.dtype != bd.dtype:
        target = _result_dtype(a, b)  # computed in; no cast recorded, as torch (see _binary)
        ad, bd = ad.astype(target, copy=False), bd.astype(target, copy=False)
    elif b is None:
        ad = _promote_scalar(a, other)._data  # an int tensor with 0.5: float32, as torch
    elif a is None:
        bd = _promote_scalar(b, input)._data
    shapes = [np.shape(cond), np.shape(ad), np.shape(bd)]
    for x, y in ((0, 1), (0, 2), (1, 2)):
        message = broadcast_error(shapes[x], shapes[y])
        if message:
            raise RuntimeError(message)
    return _run_op(
        Where(),
        (a if a is not None else input, b if b is not None else other),
        (ad, bd),
        cond=cond,
    )


# -------------------------------------------------------------- argument checks


def _bitwise(ufunc: Any, name: str, a: Tensor, b: Any) -> Tensor:
    """``& | ^`` on bool or integer tensors, outside the graph; torch refuses floats."""
    kinds = {a._data.dtype.kind, b._data.dtype.kind if isinstance(b, Tensor) else "i"}
    if isinstance(b, float) or kinds & {"f", "c"}:
        dtype = a._data.dtype if a._data.dtype.kind == "f" else np.dtype(np.float32)
        raise NotImplementedError(
            f"\"{name}_cpu\" not implemented for '{_scalar_type_name(dtype)}'"
        )
    return _compare(ufunc, a, b)
