"""User data (numbers, nested lists, numpy arrays) to arrays, with PyTorch's dtype inference.

Numpy only: a Tensor met inside nested lists counts as the array it hands over (``__array__``).
"""

from __future__ import annotations

import builtins
import numbers
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._dtypes import _FLOAT_KIND, _join_dtype


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """Convert user data to an array with PyTorch's dtype inference (floats -> float32)."""
    target = None if dtype is None else _dtypes.to_numpy_dtype(dtype)
    if isinstance(data, np.ndarray | np.generic):  # numpy data keeps its dtype, as in torch
        _dtypes.from_numpy_dtype(data.dtype)
        return np.array(data, dtype=target)
    try:
        arr = np.array(data)
    except ValueError:
        raise ValueError(_ragged_message(data)) from None
    if arr.dtype == np.uint64 or arr.dtype == object and _all_ints(arr):  # beyond int64
        if target is None or target.kind in "iub":
            raise ValueError("Overflow when unpacking long long")
        arr = arr.astype(np.float64)  # for a float tensor, as torch
    if arr.dtype == object or arr.dtype.kind in "USV":
        kind = type(data).__name__ if arr.ndim == 0 else "a ragged or non-numeric sequence"
        raise TypeError(
            f"Could not infer dtype of {kind}: tensor() takes numbers, nested lists of numbers "
            "or numpy arrays"
        )
    if arr.dtype.kind == "c":
        raise TypeError(
            "tapegrad has no complex dtype: tensor() takes real numbers (float, int, bool)"
        )
    if target is not None:
        _check_int_range(arr, target)
        return arr.astype(target)
    if isinstance(data, list | tuple):  # (an empty list is float32, as torch)
        return arr.astype(_sequence_dtype(data) or _dtypes.DEFAULT_FLOAT.np)
    if arr.dtype.kind == _FLOAT_KIND:
        return arr.astype(_dtypes.DEFAULT_FLOAT.np)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr


def _all_ints(arr: np.ndarray) -> bool:
    return arr.size > 0 and all(isinstance(v, numbers.Integral) for v in arr.flat)


def _check_int_range(values: np.ndarray, target: np.dtype, type_name: str | None = None) -> None:
    """torch's refusal of Python numbers that an integer dtype cannot hold (numpy would wrap
    300 to 44 in uint8). As in torch, an unsigned type takes negatives down to -max (they
    wrap), and a float is checked before it is truncated."""
    if target.kind not in "iu" or not values.size or values.dtype.kind not in "iuf":
        return
    info = np.iinfo(target)
    low = info.min if target.kind == "i" else -int(info.max)
    if np.isnan(values).any() or values.min() < low or values.max() > info.max:
        name = type_name or target.name
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")


def _sequence_dtype(data: Any) -> np.dtype | None:
    """torch's dtype for nested lists: Python floats count as float32, ints as int64, numpy
    scalars and tensors as their own dtype, all promoted together (``[np.float64(1.5)]`` is
    float64, ``[tensor(1, dtype=int32)]`` int32)."""
    found: set[np.dtype] = set()
    _collect_scalar_types(data, found)
    return _join_dtype(list(found)) if found else None


def _collect_scalar_types(data: Any, found: set[np.dtype]) -> None:
    for item in data:
        if isinstance(item, list | tuple):
            _collect_scalar_types(item, found)
        elif isinstance(item, np.ndarray | np.generic):
            found.add(item.dtype)
        elif hasattr(item, "__array__"):  # a Tensor: its own dtype
            found.add(np.asarray(item).dtype)
        elif isinstance(item, builtins.bool):
            found.add(np.dtype(np.bool_))
        elif isinstance(item, numbers.Integral):
            found.add(np.dtype(np.int64))
        else:
            found.add(_dtypes.DEFAULT_FLOAT.np)


def _ragged_message(data: Any) -> str:
    """Why nested lists do not make a tensor, in torch's words: the shape comes from the first
    element at each depth, and the first sequence of another length is reported."""
    sizes = []
    first = data
    while isinstance(first, list | tuple):
        sizes.append(len(first))
        first = first[0] if first else None
    return _ragged_at(data, sizes, 0) or "could not build a tensor from this data"


def _ragged_at(seq: Any, sizes: list[int], dim: int) -> str | None:
    if len(seq) != sizes[dim]:
        return f"expected sequence of length {sizes[dim]} at dim {dim} (got {len(seq)})"
    for item in seq:
        if dim + 1 < len(sizes):
            if not isinstance(item, list | tuple):
                raise TypeError("not a sequence")
            message = _ragged_at(item, sizes, dim + 1)
            if message:
                return message
        elif isinstance(item, list | tuple):  # a number was expected here
            if isinstance(seq[0], builtins.float):
                raise TypeError(f"must be real number, not {type(item).__name__}")
            raise TypeError(f"'{type(item).__name__}' object cannot be interpreted as an integer")
    return None
