"""The numpy side of indexing: walking a key over a shape (what becomes a view, what an
advanced index), checking index arrays, and writing values with torch's index_put rules."""

from __future__ import annotations

import math
import operator
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapegrad._array import shape_str
from tapegrad._dtypes import _scalar_type_name

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PY_SSIZE_MAX = sys.maxsize
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MASK_DTYPES = (np.dtype(np.bool_), np.dtype(np.uint8))
_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32), *_MASK_DTYPES)
_SEQUENCE_AS_TUPLE_MAX = 32
# torch's C++ type names in "value cannot be converted" (half is checked as double)
_CXX_NAMES = {
    "float32": "float",
    "float64": "double",
    "float16": "double",
    "int64": "int64_t",
    "int32": "int",
    "int16": "int16_t",
    "int8": "int8_t",
    "uint8": "uint8_t",
}

ZERO_DIM_INDEX = (
    "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in "
    "C++ to convert a 0-dim tensor to a number"
)
INVALID_INDEX = (
    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
    "indices (got {})"
)
INDEX_DTYPES = "tensors used as indices must be long, int, byte or bool tensors"
SEQUENCE_AS_TUPLE = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
    "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be "
    "interpreted as tensor index, x[tapegrad.tensor(seq)], which will result either in an "
    "error or a different result"
)
UINT8_INDEX = (
    "indexing with dtype tapegrad.uint8 is now deprecated, please use a dtype tapegrad.bool "
    "instead."
)
OVERLAP = (
    "unsupported operation: some elements of the input tensor and the written-to tensor refer "
    "to a single memory location. Please clone() the tensor before performing the operation."
)
INTERNAL_OVERLAP = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)


class _Plan:
    """What a key does to a tensor of some shape: views first, then index arrays by dim."""

    __slots__ = ("shape", "steps", "indices")

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = list(shape)
        self.steps: list[tuple[str, int, Any]] = []
        self.indices: dict[int, np.ndarray] = {}

    def select(self, dim: int, index: int, real_dim: int) -> None:
        """Drop ``dim`` at ``index``; torch names the key's position in its message."""
        if index == 0 and dim == 0 and not self.shape:
            raise IndexError(ZERO_DIM_INDEX)
        size = self.shape[dim] if dim < len(self.shape) else 0
        if not -size <= index < size:
            raise IndexError(
                f"index {index} is out of bounds for dimension {real_dim} with size {size}"
            )
        self.steps.append(("select", dim, index % size))
        del self.shape[dim]

    def slice(self, dim: int, key: slice, optimize: bool) -> None:
        """Narrow ``dim``; a slice covering it all is no view at all (unless ``x[:]``)."""
        start, stop, step = _unpack_slice(key)
        if step <= 0:
            raise ValueError("step must be greater than zero")
        if not self.shape:
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        length = self.shape[dim] if dim < len(self.shape) else 0  # as ``select`` reads it
        if optimize and start == 0 and stop >= length and step == 1:
            return
        if dim >= len(self.shape):
            n = len(self.shape)
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                f"{dim})"
            )
        bounds = range(length)[start:stop:step]
        self.steps.append(("slice", dim, slice(bounds.start, bounds.stop, step)))
        self.shape[dim] = len(bounds)

    def unsqueeze(self, dim: int) -> None:
        """Insert a dimension of size 1 at ``dim``."""
        n = len(self.shape)
        if dim > n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n - 1}, {n}], but got "
                f"{dim})"
            )
        self.steps.append(("unsqueeze", dim, None))
        self.shape.insert(dim, 1)

    def boolean(self, dim: int, value: bool) -> None:
        """``True``/``False`` in a key: a new dimension, indexed by ``[0]`` or ``[]``."""
        self.unsqueeze(dim)
        self.indices[dim] = np.zeros(1 if value else 0, dtype=np.int64)


def _walk_index(plan: _Plan, dim: int, index: int | np.ndarray, real_dim: int) -> int:
    """An integer selects; a 0-d integer array too (a 0-d mask acts as a bool); else record."""
    if isinstance(index, int):
        plan.select(dim, index, real_dim)
        return dim
    if index.ndim == 0 and index.dtype.kind in "biu":
        if index.dtype in _MASK_DTYPES:
            plan.boolean(dim, bool(index))
            return dim + 1
        plan.select(dim, _as_long(index), real_dim)
        return dim
    plan.indices[dim] = index
    return dim + (index.ndim if index.dtype in _MASK_DTYPES else 1)


def _is_single(key: Any) -> bool:
    """Keys torch reads without the tuple path (no "too many indices" check)."""
    return key is None or key is Ellipsis or isinstance(key, bool | slice) or _is_long(key)


def _is_long(obj: Any) -> bool:
    """A Python or numpy integer, not a bool (``THPUtils_checkLong``)."""
    return isinstance(obj, int | np.integer) and not isinstance(obj, bool)


def _is_sequence(obj: Any) -> bool:
    """What ``PySequence_Check`` accepts, near enough: lists, tuples, ranges, strings, arrays."""
    return isinstance(obj, Sequence | np.ndarray)


def _check_int64(obj: Any) -> None:
    if _is_long(obj):
        _as_long(obj)
    elif isinstance(obj, Sequence):
        for item in obj:
            _check_int64(item)


def _as_long(value: Any) -> int:
    """An int64, or torch's error for a Python int beyond it."""
    value = int(value)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("Overflow when unpacking long long")
    return value


def _unpack_slice(key: slice) -> tuple[int, int, int]:
    """Python's ``PySlice_Unpack``: None becomes 0 / "to the end", bounds go through __index__."""
    step = 1 if key.step is None else _slice_index(key.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    start = 0 if key.start is None else _slice_index(key.start)
    stop = _PY_SSIZE_MAX if key.stop is None else _slice_index(key.stop)
    return start, stop, step


def _slice_index(value: Any) -> int:
    """One slice bound through ``__index__``, clamped as CPython clamps it."""
    if not hasattr(type(value), "__index__"):
        raise TypeError("slice indices must be integers or None or have an __index__ method")
    return max(-_PY_SSIZE_MAX - 1, min(_PY_SSIZE_MAX, operator.index(value)))


def _warn(message: str) -> None:
    """Warn at the first caller outside tapegrad, wherever in the package this runs."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tapegrad"):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _view_array(a: np.ndarray, kind: str, dim: int, arg: Any) -> np.ndarray:
    """One planned step on an array: a numpy view to write through."""
    if kind == "unsqueeze":
        return np.expand_dims(a, dim)
    return a[(slice(None),) * dim + (arg, Ellipsis)]  # ``...`` keeps a 0-d result a view


@dataclass
class _IndexInfo:
    """The index arrays expanded (masks to their nonzero positions) and broadcast."""

    shape: tuple[int, ...]
    arrays: list[np.ndarray | None]
    broadcast: tuple[int, ...]

    def result(self) -> tuple[int, ...]:
        """numpy's (and torch's) rule: adjacent indexed dims stay in place, else go first."""
        arrays = self.arrays
        indexed = [d for d, a in enumerate(arrays) if a is not None]
        rest = [s for d, s in enumerate(self.shape) if d >= len(arrays) or arrays[d] is None]
        if indexed == list(range(indexed[0], indexed[-1] + 1)):
            first = indexed[0]
            return (*rest[:first], *self.broadcast, *rest[first:])
        return (*self.broadcast, *rest)

    def key(self, zeros: bool = False) -> tuple[Any, ...]:
        """The numpy key; ``zeros`` stands in for indices torch never reads (empty result)."""
        if zeros:
            return tuple(
                slice(None) if a is None else np.zeros(self.broadcast, np.int64)
                for a in self.arrays
            )
        return tuple(slice(None) if a is None else a for a in self.arrays)


def _index_info(shape: tuple[int, ...], indices: dict[int, np.ndarray]) -> _IndexInfo:
    """torch's index checks, in its order: count, dtypes, masks, broadcast, empty dims."""
    _check_count(shape, max(indices) + 1)
    if any(a.dtype not in _INDEX_DTYPES for a in indices.values()):
        raise IndexError(INDEX_DTYPES)
    arrays = _expand_masks(shape, indices)
    _check_count(shape, len(arrays))
    defined = [a for a in arrays if a is not None]
    broadcast = _broadcast(defined)
    sizes = [shape[d] for d, a in enumerate(arrays) if a is not None]
    if 0 in sizes and 0 not in broadcast:
        raise IndexError("index is out of bounds for dimension with size 0")
    return _IndexInfo(shape, arrays, broadcast)


def _check_count(shape: tuple[int, ...], count: int) -> None:
    """Only reachable with several ellipses, which each skip the unindexed dimensions."""
    if count > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} (got {count})")


def _broadcast(arrays: list[np.ndarray]) -> tuple[int, ...]:
    """The index arrays' common shape, or torch's error naming them all."""
    if len(arrays) == 1:
        return arrays[0].shape
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = ", ".join(shape_str(a.shape) for a in arrays)
        raise IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}"
        ) from None


def _expand_masks(shape: tuple[int, ...], indices: dict[int, np.ndarray]) -> list[Any]:
    """One entry per indexed dimension (None when not indexed); a k-d mask gives k arrays."""
    arrays: list[np.ndarray | None] = []
    for dim, index in sorted(indices.items()):
        arrays.extend([None] * (dim - len(arrays)))
        if index.dtype not in _MASK_DTYPES:
            arrays.append(index)
            continue
        if index.dtype == np.uint8:
            _warn(UINT8_INDEX)
        _check_mask(shape, index, len(arrays))
        arrays.extend(np.nonzero(index))
    return arrays


def _check_mask(shape: tuple[int, ...], mask: np.ndarray, start: int) -> None:
    """A mask must match the dimensions it covers, from ``start`` on."""
    for j, size in enumerate(mask.shape):
        at = start + j
        if at >= len(shape) or shape[at] != size:
            raise IndexError(
                f"The shape of the mask {shape_str(mask.shape)} at index {j} does not match the "
                f"shape of the indexed tensor {shape_str(shape)} at index {at}"
            )


def _check_bounds(info: _IndexInfo) -> None:
    """Report the first bad index in result order, naming its position among the indices."""
    pairs = [(a, info.shape[d]) for d, a in enumerate(info.arrays) if a is not None]
    bad = [(a < -size) | (a >= size) for a, size in pairs]
    if not any(b.any() for b in bad):
        return
    grid = np.stack([np.broadcast_to(b, info.broadcast).reshape(-1) for b in bad])
    element = int(np.argmax(grid.any(axis=0)))
    i = int(np.argmax(grid[:, element]))
    value = np.broadcast_to(pairs[i][0], info.broadcast).reshape(-1)[element]
    raise IndexError(f"index {value} is out of bounds for dimension {i} with size {pairs[i][1]}")


def _tensor_type(dtype: np.dtype) -> str:
    """torch's legacy type name in tapegrad's spelling: ``tapegrad.FloatTensor``."""
    return f"tapegrad.{_scalar_type_name(dtype)}Tensor"


def _scalar_array(value: Any, dtype: np.dtype) -> np.ndarray:
    """A 0-d array of ``dtype``, with torch's overflow check (c10's ``checked_convert``)."""
    if _is_long(value):
        value = _as_long(value)
    if not _fits(value, dtype):
        name = _CXX_NAMES.get(dtype.name, dtype.name)
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")
    if dtype.kind == "b":
        return np.array(bool(value))
    if isinstance(value, complex):
        value = value.real
    if dtype.kind in "iu":
        return np.array(int(value)).astype(dtype)  # truncates; wraps negatives into unsigned
    if dtype == np.float16:
        with np.errstate(over="ignore"):  # torch gives inf, silently
            return np.array(value, dtype)
    return np.array(value, dtype)


def _fits(value: float | complex, dtype: np.dtype) -> bool:
    """c10's ``overflows``, negated: negative ints may wrap into unsigned types, as in torch."""
    if dtype.kind == "b":
        return True
    if isinstance(value, complex):
        if value.imag != 0:
            return False
        value = value.real
    if dtype.kind == "f":
        return dtype != np.float32 or not math.isfinite(value) or abs(value) <= _FLOAT32_MAX
    info = np.iinfo(dtype)
    if isinstance(value, float):
        return math.isfinite(value) and info.min <= value <= info.max
    if info.min == 0:
        return -info.max <= value <= info.max
    return info.min <= value <= info.max


def _strip_leading_ones(a: np.ndarray) -> np.ndarray:
    """torch's ``slicePrefix1sSize``: a value may carry extra leading dimensions of size 1."""
    lead = 0
    while lead < a.ndim and a.shape[lead] == 1:
        lead += 1
    return a.reshape(a.shape[lead:]) if lead else a


def _check_expand(src: np.ndarray, target: tuple[int, ...]) -> None:
    """``expand``'s errors, as torch raises them while copying a value into place."""
    lead = len(target) - src.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand({_tensor_type(src.dtype)}{{{shape_str(src.shape)}}}, "
            f"size={shape_str(target)}): the number of sizes provided ({len(target)}) must be "
            f"greater or equal to the number of dimensions in the tensor ({src.ndim})"
        )
    for i, size in reversed(list(enumerate(src.shape))):  # torch reports the last mismatch
        want = target[lead + i]
        if size not in (want, 1):
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size "
                f"({size}) at non-singleton dimension {lead + i}.  Target sizes: "
                f"{shape_str(target)}.  Tensor sizes: {shape_str(src.shape)}"
            )


def _index_put(dst: np.ndarray, indices: dict[int, np.ndarray], src: np.ndarray) -> None:
    """torch's ``index_put_``: a masked fill for one mask and one value, else checked put."""
    _check_count(dst.shape, max(indices) + 1)
    if _masked_fill(dst, indices, src):
        return
    if _overlap(dst, src) is not None:
        raise RuntimeError(OVERLAP)
    info = _index_info(dst.shape, indices)
    result = info.result()
    if not _expandable(src.shape, result):
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {shape_str(src.shape)} cannot be broadcast "
            f"to indexing result of shape {shape_str(result)}"
        )
    if src.dtype != dst.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{_scalar_type_name(dst.dtype)} for the destination and "
            f"{_scalar_type_name(src.dtype)} for the source."
        )
    if not math.prod(result):  # torch reads no index when nothing is written
        _write(dst, info.key(zeros=True), src)
        return
    try:
        _write(dst, info.key(), src)  # numpy checks every index before it writes any
    except IndexError:
        _check_bounds(info)
        raise


def _masked_fill(dst: np.ndarray, indices: dict[int, np.ndarray], src: np.ndarray) -> bool:
    """torch's ``canDispatchToMaskedFill``: a lone mask and a one-element value."""
    if src.size != 1 or len(indices) != 1:
        return False
    ((dim, mask),) = indices.items()
    if mask.dtype not in _MASK_DTYPES:
        return False
    _check_mask(dst.shape, mask, dim)
    if mask.dtype != np.bool_:
        raise RuntimeError(
            "masked_fill_ only supports boolean masks, but got mask with dtype unsigned char"
        )
    _write(dst, (slice(None),) * dim + (mask,), _scalar_array(src.item(), dst.dtype))
    return True


def _expandable(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` without adding to it."""
    if len(shape) > len(target):
        return False
    return all(s in (t, 1) for s, t in zip(reversed(shape), reversed(target)))


def _overlap(a: np.ndarray, b: np.ndarray) -> str | None:
    """torch's ``get_overlap_status``: only dense arrays are compared, by their byte ranges."""
    if not np.may_share_memory(a, b) or not (_dense(a) and _dense(b)):
        return None
    a_start, b_start = a.ctypes.data, b.ctypes.data
    a_end, b_end = a_start + a.nbytes, b_start + b.nbytes
    if (a_start, a_end) == (b_start, b_end):
        return "full" if a.strides == b.strides else "partial"
    return "partial" if a_start < b_end and b_start < a_end else None


def _dense(a: np.ndarray) -> bool:
    """Whether the elements fill their memory span exactly, in some order of the axes."""
    expected = a.itemsize
    for stride, size in sorted((s, n) for s, n in zip(a.strides, a.shape) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _write(dst: np.ndarray, key: Any, src: np.ndarray) -> None:
    """Write through; a broadcast (read-only) array cannot take it, as in the in-place ops."""
    if not dst.flags.writeable:
        raise RuntimeError(INTERNAL_OVERLAP)
    with np.errstate(over="ignore", invalid="ignore"):
        if key is Ellipsis:
            np.copyto(dst, src, casting="unsafe")
        else:
            dst[key] = src


def _flat_positions(root: np.ndarray, view: np.ndarray) -> np.ndarray:
    """For each element of ``view`` (an array on ``root``'s memory), its position in
    ``root`` read flat in C order: how an in-place change of a view reaches its base."""
    same = view.shape == root.shape and view.strides == root.strides
    if same and view.ctypes.data == root.ctypes.data:
        return np.arange(root.size, dtype=np.int64).reshape(root.shape)
    start = view.ctypes.data - root.ctypes.data
    offsets = _byte_offsets(view, start)
    if root.flags.c_contiguous:
        return offsets // root.itemsize
    flat = _byte_offsets(root, 0).reshape(-1)
    order = np.argsort(flat, kind="stable")
    return order[np.searchsorted(flat[order], offsets)]


def _byte_offsets(a: np.ndarray, start: int) -> np.ndarray:
    offsets = np.full(a.shape, start, dtype=np.int64)
    for dim, (size, stride) in enumerate(zip(a.shape, a.strides)):
        axis = [1] * a.ndim
        axis[dim] = size
        offsets = offsets + (np.arange(size, dtype=np.int64) * stride).reshape(axis)
    return offsets
