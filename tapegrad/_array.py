"""Numpy-only helpers shared by the engine and the ops: reducing to a shape, shape checks."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np


def sign(a: np.ndarray) -> np.ndarray:
    """``np.sign`` with torch's ``sign(nan) = 0``; always an array (0-d input included)."""
    out = np.sign(a, out=np.empty_like(a))
    if out.dtype.kind == "f":
        out[np.isnan(out)] = 0
    return out


def sum_array(
    a: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
) -> np.ndarray:
    """``a.sum(axis, keepdims=keepdims)``, the same reduction called directly: the same
    result (bools and small ints summed as int64), 0.2-0.4 us less a call, and numpy's
    overflow warning points into tapegrad, whose warning filter silences it (torch is
    silent); ``a.sum`` goes through numpy's Python-level ``_methods``."""
    return np.add.reduce(a, axis, None, None, keepdims)


def check_divisor(a: object, b: object) -> None:
    """Integer floor division or remainder by zero: torch raises (numpy gives 0 and warns)."""
    if np.result_type(a, b).kind in "iub" and not np.all(b):
        raise RuntimeError("ZeroDivisionError")


def floor_divide(a: object, b: object) -> np.ndarray:
    """``a // b``, with torch's error for an integer division by zero."""
    check_divisor(a, b)
    return np.floor_divide(a, b)


def wrapped_int(value: int, dtype: np.dtype) -> np.ndarray:
    """A Python int beyond an integer dtype's range, wrapped around as C (and torch) do:
    uint8 + 300 adds 44; numpy refuses such an int."""
    return np.array(value, dtype=np.int64).astype(dtype)


def sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched so it has `shape`.

    Raises ValueError when `grad` could not have been broadcast from `shape`.
    """
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    if lead > 0 and gshape[lead:] == shape:  # a bias: only leading axes were added
        return _sum_leading(grad, lead)
    if lead == 0 and len(shape) == 2 and shape[0] == 1 and shape[1] == gshape[1]:
        return _sum_leading(grad, 1).reshape(shape)  # a (1, k) bias, as the loop below finds
    if lead < 0:
        raise ValueError(_sum_to_error(gshape, shape))
    axes = list(range(lead))
    for i, (s, g) in enumerate(zip(shape, gshape[lead:])):
        if s != g:
            if s != 1:
                raise ValueError(_sum_to_error(gshape, shape))
            axes.append(lead + i)
    if not axes:
        return grad.reshape(shape)
    if axes[-1] == len(axes) - 1:  # a leading block, e.g. (N, k) -> (1, k)
        return _sum_leading(grad, len(axes)).reshape(shape)
    return grad.sum(axis=tuple(axes)).reshape(shape)


def _sum_to_error(gshape: tuple[int, ...], shape: tuple[int, ...]) -> str:
    return f"gradient of shape {list(gshape)} can't be summed to {list(shape)}"


# Up to this size, summing the rows of a float matrix as ``ones @ grad`` (BLAS gemv) is 2-20x
# faster than numpy's column-wise ``sum(axis=0)`` (and no less accurate); beyond the cache it
# is slower. Measured with OpenBLAS on one thread; see scripts/bench.py.
_GEMV_SUM_MAX_BYTES = 1 << 24
_ones_cache: dict[tuple[int, str], np.ndarray] = {}


def _sum_leading(grad: np.ndarray, lead: int) -> np.ndarray:
    """Sum over the first ``lead`` axes."""
    if grad.dtype.char in "fd" and grad.nbytes <= _GEMV_SUM_MAX_BYTES and grad.size:
        # ndarray.dot: the same gemv as ``@`` (bit-identical), with 0.6 us less overhead a call
        if grad.ndim == 2 and lead == 1:
            return _ones(grad.shape[0], grad.dtype).dot(grad)
        rows = grad.reshape(-1, grad[(0,) * lead].size)
        return _ones(rows.shape[0], grad.dtype).dot(rows).reshape(grad.shape[lead:])
    return grad.sum(axis=tuple(range(lead)))


def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, cached (a few sizes are used again and again)."""
    key = (n, dtype.char)
    ones = _ones_cache.get(key)
    if ones is None:
        if len(_ones_cache) >= 16:
            _ones_cache.clear()
        ones = _ones_cache[key] = np.ones(n, dtype)
        ones.flags.writeable = False
    return ones


def broadcast_error(a: tuple[int, ...], b: tuple[int, ...]) -> str | None:
    """PyTorch's message for shapes that do not broadcast, or None when they do."""
    for i in range(1, min(len(a), len(b)) + 1):
        sa, sb = a[-i], b[-i]
        if sa != sb and sa != 1 and sb != 1:
            dim = max(len(a), len(b)) - i
            return (
                f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) "
                f"at non-singleton dimension {dim}"
            )
    return None


def normalize_dim(dim: int, ndim: int) -> int:
    """Wrap a negative dimension; raise IndexError as PyTorch does when out of range."""
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})"
        )
    return dim % max(ndim, 1)


def normalize_dims(dim: int | tuple[int, ...] | list[int] | None, ndim: int) -> tuple[int, ...]:
    """Normalize an int, a sequence of ints or None (all axes) to a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = tuple(sorted({normalize_dim(d, ndim) for d in dims}))
    if len(out) != len(dims):
        raise RuntimeError("dim appears multiple times in the list of dims")
    return out if ndim else ()


def shape_str(shape: tuple[int, ...]) -> str:
    """Format a shape as PyTorch's messages do: ``[2, 3]``."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes defined in Python, named without module


def _inplace_shape_error(out: tuple[int, ...], other: tuple[int, ...]) -> str:
    """torch's message for ``out += other`` when ``other`` does not fit into ``out``."""
    message = broadcast_error(out, other)
    if message is None:
        wanted = shape_str(np.broadcast_shapes(out, other))
        message = f"output with shape {shape_str(out)} doesn't match the broadcast shape {wanted}"
    return message


def _type_name(obj: Any) -> str:
    """CPython's ``tp_name``: ``float``, ``numpy.float32``, or a Python class's own name."""
    cls = type(obj)
    if cls.__flags__ & _HEAP_TYPE or cls.__module__ == "builtins":
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def _shape_arg(args: Any) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``."""
    if len(args) == 1 and isinstance(args[0], list | tuple):
        args = args[0]
    try:
        return tuple(operator.index(s) for s in args)  # ints only, as torch: 2.0 is refused
    except TypeError:
        raise TypeError(f"a shape must be a sequence of ints, got {args!r}") from None
