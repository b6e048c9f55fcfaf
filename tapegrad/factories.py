"""Tensor factories (``tapegrad.tensor``, ``ones``, ``randn``, ``arange``...) and the seeded
generator behind the random ones."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import _shape_arg
from tapegrad._conversion import _check_int_range
from tapegrad._dtypes import _scalar_type_name
from tapegrad.tensor import FLOAT_OR_COMPLEX_ONLY, Tensor, _wrap

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator used by ``randn``, ``rand`` and ``nn.init``."""
    global _generator
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator behind ``randn``/``rand`` (reseeded by ``manual_seed``)."""
    return _generator


def _factory_dtype(dtype: Any) -> np.dtype:
    return _dtypes.DEFAULT_FLOAT.np if dtype is None else _dtypes.to_numpy_dtype(dtype)


def _leaf(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = _wrap(data)
    if requires_grad:
        t._set_requires_grad(True, FLOAT_OR_COMPLEX_ONLY)
    return t


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor from numbers, nested lists or an array (floats become float32)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    _check_size_given(size, "ones")
    return _leaf(np.ones(_new_size(size), _factory_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (fill it before reading it)."""
    _check_size_given(size, "empty")
    return _leaf(np.empty(_new_size(size), _factory_dtype(dtype)), requires_grad)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    _check_size_given(size, "zeros")
    return _leaf(np.zeros(_new_size(size, "zeros"), _factory_dtype(dtype)), requires_grad)


def full(
    size: Sequence[int], fill_value: Any, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as PyTorch)."""
    if dtype is None:
        dtype = (
            _dtypes.bool
            if isinstance(fill_value, bool)
            else _dtypes.int64
            if isinstance(fill_value, int)
            else None
        )
    np_dtype = _factory_dtype(dtype)
    if np_dtype.kind in "iu" and isinstance(fill_value, int | float):
        value = np.array(fill_value)
        _check_int_range(value, np_dtype, f"{np_dtype.name}_t")  # torch's C++ type name
        fill_value = value.astype(np_dtype)  # -1 wraps to 255 in uint8, as in torch
    return _leaf(np.full(_new_size((size,)), fill_value, np_dtype), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape and dtype."""
    _check_like_input(t, "ones_like")
    np_dtype = t._data.dtype if dtype is None else _dtypes.to_numpy_dtype(dtype)
    return _leaf(np.ones(t.shape, np_dtype), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape and dtype."""
    _check_like_input(t, "zeros_like")
    np_dtype = t._data.dtype if dtype is None else _dtypes.to_numpy_dtype(dtype)
    return _leaf(np.zeros(t.shape, np_dtype), requires_grad)


def _check_like_input(t: Any, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"{name}(): argument 'input' (position 1) must be Tensor, not {type(t).__name__}"
        )


def randn(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Standard normal samples from the seeded generator."""
    np_dtype = _random_dtype(dtype, "normal_kernel_cpu")
    gen = generator or _generator
    return _leaf(gen.standard_normal(_new_size(size), dtype=np_dtype), requires_grad)


def rand(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Uniform samples on [0, 1) from the seeded generator."""
    np_dtype = _random_dtype(dtype, "check_uniform_bounds")
    gen = generator or _generator
    return _leaf(gen.random(_new_size(size), dtype=np_dtype), requires_grad)


def _check_size_given(size: tuple[Any, ...], name: str) -> None:
    if not size:  # ``zeros(())`` is a 0-d tensor; ``zeros()`` is a mistake
        raise TypeError(f'{name}() missing 1 required positional arguments: "size"')


def _new_size(size: Any, checked_by: str | None = None) -> tuple[int, ...]:
    """A factory's shape: torch refuses negative sizes (view and reshape take -1), in words
    that depend on the factory."""
    shape = _shape_arg(size)
    for d in shape:
        if d < 0 and checked_by:
            raise RuntimeError(f"{checked_by}: Dimension size must be non-negative.")
        if d < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {d}: {list(shape)}"
            )
    return shape


def _random_dtype(dtype: Any, kernel: str) -> np.dtype:
    """The dtype of random samples: a float one, or torch's error naming its kernel."""
    np_dtype = _factory_dtype(dtype)
    if np_dtype.kind != "f":
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{_scalar_type_name(np_dtype)}'"
        )
    return np_dtype


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 unless a bound is a float.

    As torch: float values are computed in float64 and then cast (``arange(0, 1, 0.1)`` ends
    at float32(0.9)); an integer dtype truncates the bounds and the step first.
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_bound(v) for v in (start, end, step))
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = _dtypes.int64 if ints else _dtypes.DEFAULT_FLOAT
    np_dtype = _dtypes.to_numpy_dtype(dtype)
    if np_dtype.kind in "iub":
        start, end, step = (math.trunc(v) for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    for bound in (start, end):
        if not math.isfinite(bound):
            raise RuntimeError(f"unsupported range: {_number(start)} -> {_number(end)}")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    values = np.arange(start, end, step, dtype=np.float64 if np_dtype.kind == "f" else np_dtype)
    return _leaf(values.astype(np_dtype, copy=False), requires_grad)


def _bound(value: Any) -> Any:
    """An arange bound as a Python number (a one-element tensor gives its value)."""
    return value.item() if isinstance(value, Tensor | np.generic) else value


def _number(value: float) -> str:
    """A bound as torch prints it in arange's errors: 0, inf, 1.5."""
    return str(int(value)) if isinstance(value, int) or float(value).is_integer() else str(value)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtypes.from_numpy_dtype(array.dtype)
    return _wrap(array)


def is_tensor(obj: Any) -> bool:
    """True for tapegrad tensors."""
    return isinstance(obj, Tensor)
