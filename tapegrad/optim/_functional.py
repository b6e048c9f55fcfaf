"""Array arithmetic the optimizers share, rounded as torch's CPU kernels round.

torch computes ``add(alpha=)``, ``addcmul`` and ``lerp`` with one fused multiply-add (one
rounding), ``addcdiv`` and ``div`` with separate roundings, and casts every Python scalar to
the tensor's dtype first (float32 for float16 tensors, whose arithmetic torch carries out in
float32 and rounds once per op). For float32 the fused forms are exact through float64 (a
product of two float32 numbers is exact there), so updates follow torch to the last bit almost
always.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.factories import from_numpy
from tapegrad.tensor import Tensor

#: Dtypes whose fused multiply-add is computed exactly in float64.
_WIDENED = (np.dtype(np.float32), np.dtype(np.float16))
_HALF = np.dtype(np.float16)


def opmath(dtype: np.dtype) -> np.dtype:
    """The dtype torch computes in for ``dtype`` (float32 for float16)."""
    return np.dtype(np.float32) if dtype == _HALF else dtype


def scalar(value: float, like: np.ndarray) -> Any:
    """``value`` as torch passes a Python scalar to a kernel on ``like``."""
    return opmath(like.dtype).type(value)


def fma(x: Any, y: Any, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x * y + z`` rounded once into ``z``'s dtype (written to ``out`` when given)."""
    if z.dtype in _WIDENED:
        wide = np.multiply(x, y, dtype=np.float64)
        wide += z
        if z.dtype == _HALF:  # torch's float32 result, then rounded to half
            wide = wide.astype(np.float32)
        if out is None:
            return wide.astype(z.dtype)
        np.copyto(out, wide, casting="same_kind")
        return out
    if out is None:
        return np.multiply(x, y) + z
    return np.add(np.multiply(x, y), z, out=out)


def add_(target: np.ndarray, other: np.ndarray, alpha: float) -> np.ndarray:
    """torch's ``target.add_(other, alpha=alpha)`` on arrays (``alpha`` in the tensor's own
    dtype, even for float16)."""
    return fma(other, target.dtype.type(alpha), target, out=target)


def add(base: np.ndarray, other: np.ndarray, alpha: float) -> np.ndarray:
    """torch's ``base.add(other, alpha=alpha)``: a new array."""
    return fma(other, base.dtype.type(alpha), base)


def addcmul_(target: np.ndarray, a: np.ndarray, b: np.ndarray, value: float) -> np.ndarray:
    """torch's ``target.addcmul_(a, b, value=value)``: ``target + (value * a) * b``."""
    return fma(np.multiply(scalar(value, target), a), b, target, out=target)


def addcdiv_(target: np.ndarray, a: np.ndarray, b: np.ndarray, value: float) -> np.ndarray:
    """torch's ``target.addcdiv_(a, b, value=value)``: ``target + (value * a) / b``."""
    wide = opmath(target.dtype)
    quotient = np.multiply(scalar(value, target), a, dtype=wide) if value != 1 else a
    return np.add(target, np.divide(quotient, b, dtype=wide), out=target, dtype=wide)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """torch's ``start.lerp_(end, weight)``, with its two formulas either side of 0.5."""
    w = scalar(weight, start)
    diff = np.subtract(end, start, dtype=opmath(start.dtype))
    if abs(w) < 0.5:
        return fma(w, diff, start, out=start)
    return fma(w - w.dtype.type(1), diff, end, out=start)


def zeros_state(param: Tensor, fill: float = 0.0) -> Tensor:
    """A state buffer shaped and typed as ``param`` (``torch.zeros_like``/``full_like``)."""
    return from_numpy(np.full(param._data.shape, fill, dtype=param._data.dtype))


def data(t: Tensor) -> np.ndarray:
    """The array behind ``t``, which the update then changes in place."""
    return t._data


def bump(*tensors: Tensor) -> None:
    """Count an in-place change on each tensor, as torch's version counter does."""
    for t in tensors:
        t._vc[0] += 1


def gradient(param: Tensor, maximize: bool) -> np.ndarray:
    """The parameter's gradient array, negated when maximizing (a new array then)."""
    grad = param.grad._data  # type: ignore[union-attr]
    if grad.shape != param._data.shape:
        grad = np.broadcast_to(grad, param._data.shape)
    return np.negative(grad) if maximize else grad
