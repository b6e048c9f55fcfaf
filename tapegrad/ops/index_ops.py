"""Whole slices along a dim picked by a vector of indices: index_select, index_add,
index_fill, index_copy; and ``take`` (the flattened tensor at an index)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import normalize_dim, shape_str
from tapegrad._dtypes import _scalar_type_name
from tapegrad._index_plan import _scalar_array
from tapegrad.ops.base import HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.gather import (
    INT_INDEX,
    LONG_INDEX,
    ScatterValue,
    at_least_1d,
    check_bounds,
    check_dtype,
    check_fill_grad,
    filled_mask,
    index_data,
    inplace_as,
    ix,
)
from tapegrad.ops.samples import OpInfo, Sample, fixed, normal
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor


def _reshaped(xp: Any, t: Any, shape: tuple[int, ...]) -> Any:
    return t if t.shape == shape else xp.reshape(t, shape)


# -------------------------------------------------------------------------- ops


class IndexSelect(HoldingOp):
    """``a`` (viewed as ``flat``) at ``key``; repeated indices accumulate in backward."""

    node_name = "IndexSelectBackward0"
    held = ("key",)

    def forward(self, a: np.ndarray, key: Any, flat: Any, shape: Any) -> np.ndarray:
        self.in_shape, self.flat, self.key = a.shape, flat, key
        picked = a.reshape(flat)[key]
        self.picked_shape = picked.shape
        return picked.reshape(shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        g = _reshaped(xp, g, self.picked_shape)
        return (_reshaped(xp, xp.index_into_zeros(g, self.flat, self.key, True), self.in_shape),)


class Take(IndexSelect):
    """``take``: the flattened tensor at an index (the same gradient as index_select)."""

    node_name = "TakeBackward0"


class IndexAdd(HoldingOp):
    """``self`` with ``alpha * source`` added at ``key`` (repeated indices add up)."""

    node_name = "IndexAddBackward0"
    held = ("key", "mask")
    combine = staticmethod(np.add.at)

    def forward(self, a: np.ndarray, s: np.ndarray, key: Any, alpha: Any) -> np.ndarray:
        self.key, self.alpha, self.src_shape = key, alpha, s.shape
        out = a.reshape(at_least_1d(a.shape)).copy()
        self.mask = filled_mask(out.shape, key).reshape(a.shape)
        part = s.reshape(out[key].shape)
        self.combine(out, key, part if alpha == 1 else part * alpha)
        return out.reshape(a.shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        picked = xp.index(_reshaped(xp, g, at_least_1d(g.shape)), self.key)
        if self.alpha != 1:
            picked = picked * self.alpha
        return (self.self_grad(xp, g), _reshaped(xp, picked, self.src_shape))

    def self_grad(self, xp: Any, g: Any) -> Any:
        return g


class IndexCopy(IndexAdd):
    """``self`` with slices replaced by ``source``'s; the replaced ones get no gradient."""

    node_name = "IndexCopyBackward0"

    @staticmethod
    def combine(out: np.ndarray, key: Any, values: np.ndarray) -> None:
        out[key] = values

    def self_grad(self, xp: Any, g: Any) -> Any:
        return xp.where(self.mask, 0, g)


class IndexFill(ScatterValue):
    """``index_fill`` with a number: the filled slices get no gradient."""

    node_name = "IndexFillBackward0"


class IndexFillTensor(HoldingOp):
    """``index_fill`` with a 0-d tensor value: its gradient is the sum where it was written."""

    node_name = "IndexFillBackward1"
    held = ("mask",)

    def forward(self, a: np.ndarray, value: np.ndarray, key: Any) -> np.ndarray:
        out = a.reshape(at_least_1d(a.shape)).copy()
        out[key] = value
        self.mask = filled_mask(out.shape, key).reshape(a.shape)
        return out.reshape(a.shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.where(self.mask, 0, g), xp.where(self.mask, g, 0))


def _dim_key(axis: int, idx: np.ndarray) -> tuple[Any, ...]:
    return (slice(None),) * axis + (idx.reshape(-1),)


# --------------------------------------------------------------- registry samples


def _pairs(make_index: Any) -> Any:
    """(self, source) samples for ops taking whole slices from ``source``."""

    def samples(rng: np.random.Generator) -> list[Sample]:
        out = []
        for shape, src, dim, index, desc in make_index:
            kw = {"dim": dim, "index": np.array(index)}
            out.append(Sample((normal(rng, shape), normal(rng, src)), desc, kw))
        return out

    return samples


_ADD_CASES = [
    ((3, 4), (3, 3), 1, [0, 0, 3], "dim=1 repeated"),
    ((4, 2), (3, 2), 0, [3, 1, 3], "dim=0 repeated"),
    ((2, 3, 2), (2, 3, 1), -1, [1], "dim=-1"),
    ((4, 1), (2, 1), 0, [2, 0], "size-1 dim"),
    ((), (), 0, [0], "0-d"),
]
_COPY_CASES = [
    ((3, 4), (3, 3), 1, [0, 2, 3], "dim=1"),
    ((4, 2), (2, 2), 0, [3, 1], "dim=0"),
    ((2, 3, 2), (2, 3, 1), -1, [1], "dim=-1"),
    ((), (), 0, 0, "0-d"),
]


def _ref_add(
    a: np.ndarray, s: np.ndarray, dim: int, index: np.ndarray, alpha: float = 1
) -> np.ndarray:
    out = a.reshape(at_least_1d(a.shape)).copy()
    s1 = s.reshape(at_least_1d(s.shape))
    dim %= out.ndim
    for j, i in enumerate(index.reshape(-1)):
        target = (slice(None),) * dim + (i,)
        out[target] += alpha * np.take(s1, j, axis=dim)
    return out.reshape(a.shape)


def _ref_copy(a: np.ndarray, s: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    out = a.reshape(at_least_1d(a.shape)).copy()
    s1 = s.reshape(at_least_1d(s.shape))
    dim %= out.ndim
    for j, i in enumerate(index.reshape(-1)):
        out[(slice(None),) * dim + (i,)] = np.take(s1, j, axis=dim)
    return out.reshape(a.shape)


def _ref_select(a: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    if not a.ndim:
        return a.reshape(1)[index].reshape(())
    return np.take(a, index, axis=dim)


# ------------------------------------------------------------------ Tensor methods


@declare(
    tests=[
        OpInfo(
            "index_select",
            "IndexSelectBackward0",
            lambda ns, a, dim, index: a.index_select(dim, ix(ns, index)),
            _ref_select,
            fixed(
                (((3, 4),), "dim=1 repeated", {"dim": 1, "index": np.array([0, 0, 3])}),
                (((3, 4),), "dim=0", {"dim": 0, "index": np.array([2, 0])}),
                (((2, 3, 4),), "dim=-1", {"dim": -1, "index": np.array([1, 3, 1])}),
                (((4, 1),), "size-1 dim", {"dim": 1, "index": np.array([0, 0])}),
                (((),), "0-d", {"dim": 0, "index": np.array([0])}),
            ),
        ),
    ]
)
def index_select(self, dim: int, index: Tensor) -> Tensor:
    """The slices of ``self`` along ``dim`` at the indices of the vector ``index``."""
    axis = normalize_dim(dim, self.ndim)
    idx = index_data(index, "index_select", 2)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    check_dtype(
        idx, INT_INDEX, "index_select(): Expected dtype int32 or int64 for index", RuntimeError
    )
    if not self.ndim and idx.size != 1:
        raise RuntimeError(
            f"index_select(): Index to scalar can have only 1 value, got {idx.size} value(s)"
        )
    size = at_least_1d(self.shape)[axis]
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        if self.ndim > 1 and axis == 1:
            value = idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
            raise RuntimeError(f"INDICES element is out of DATA bounds, id={value} axis_dim={size}")
        raise IndexError("index out of range in self")
    shape = self.shape[:axis] + (idx.size,) + self.shape[axis + 1 :] if self.ndim else ()
    flat = at_least_1d(self.shape)
    return _run_op(
        IndexSelect(), (self,), (self._data,), key=_dim_key(axis, idx), flat=flat, shape=shape
    )


@declare(
    tests=[
        OpInfo(
            "take",
            "TakeBackward0",
            lambda ns, a, index: a.take(ix(ns, index)),
            lambda a, index: a.reshape(-1)[index],
            fixed(
                (((3, 4),), "repeated", {"index": np.array([[0, 11], [3, 3]])}),
                (((2, 3),), "negative", {"index": np.array([-1, -6, 2])}),
                (((2, 1, 3),), "0-d index", {"index": np.array(4)}),
                (((),), "0-d", {"index": np.array([0, 0])}),
            ),
        ),
    ]
)
def take(self, index: Tensor) -> Tensor:
    """``self`` read as a vector, at ``index`` (result shaped as ``index``; negatives wrap)."""
    idx = index_data(index, "take", 1)
    check_dtype(
        idx, LONG_INDEX, "take(): Expected a long tensor for index, but got {}", RuntimeError
    )
    n = self._data.size
    if not n and idx.size:
        raise IndexError("take(): tried to take from an empty tensor")
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        value = idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise IndexError(
            f"out of range: tried to access index {value} on a tensor of {n} elements."
        )
    key = (idx.reshape(-1),)
    return _run_op(Take(), (self,), (self._data,), key=key, flat=(n,), shape=idx.shape)


@declare(
    tests=[
        OpInfo(
            "index_add",
            "IndexAddBackward0",
            lambda ns, a, s, dim, index, alpha=1: a.index_add(dim, ix(ns, index), s, alpha=alpha),
            _ref_add,
            lambda rng: (
                _pairs(_ADD_CASES)(rng)
                + [
                    Sample(
                        (normal(rng, (3, 4)), normal(rng, (3, 2))),
                        "alpha=2.5",
                        {"dim": 1, "index": np.array([1, 1]), "alpha": 2.5},
                    )
                ]
            ),
        ),
    ]
)
def index_add(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """``self`` with ``alpha * source`` added to the slices along ``dim`` at ``index``."""
    axis, idx = normalize_dim(dim, self.ndim), index_data(index, "index_add", 2)
    src = index_data(source, "index_add", 3, "source")
    check_dtype(
        idx,
        INT_INDEX,
        "index_add_(): Expected dtype int32/int64 for index but got: {}",
        RuntimeError,
    )
    if idx.ndim > 1:
        raise IndexError(
            f"index_add_(): Index is supposed to be a vector, but got dim: {idx.ndim} with type: "
            f"{_scalar_type_name(idx.dtype)} and size: {shape_str(idx.shape)}"
        )
    if src.dtype != self._data.dtype:
        raise RuntimeError(
            f"index_add_(): self ({_scalar_type_name(self._data.dtype)}) and source "
            f"({_scalar_type_name(src.dtype)}) must have the same scalar type"
        )
    _check_source(self.shape, src.shape, axis, idx.size)
    check_bounds(idx, at_least_1d(self.shape)[axis], axis)
    scale = _scalar_array(alpha, self._data.dtype).item()
    key = _dim_key(axis, idx)
    return _run_op(IndexAdd(), (self, source), (self._data, src), key=key, alpha=scale)


def _check_source(shape: tuple[int, ...], src: tuple[int, ...], axis: int, count: int) -> None:
    if src and axis >= len(src):
        raise RuntimeError(
            f"index_add_(): Indexing dim {axis} is out of bounds of the source tensor with dim "
            f"{len(src)}"
        )
    size = src[axis] if src else 1
    if count != size:
        raise RuntimeError(
            f"index_add_(): Number of indices ({count}) should be equal to source.size(dim): "
            f"({size}), for dim: {axis}"
        )
    rest = [s for d, s in enumerate(shape) if d != axis]
    if len(src) != len(shape) or rest != [s for d, s in enumerate(src) if d != axis]:
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified "
            f"dimension. Got self.shape = {shape_str(shape)} source.shape = {shape_str(src)}"
        )


@declare(function=False)
def index_add_(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """``index_add`` in place."""
    return inplace_as(self, source, lambda t: t.index_add(dim, index, source, alpha=alpha))


@declare(
    tests=[
        OpInfo(
            "index_fill",
            "IndexFillBackward0",
            lambda ns, a, dim, index: a.index_fill(dim, ix(ns, index), -0.5),
            lambda a, dim, index: _ref_fill(a, dim, index, -0.5),
            fixed(
                (((3, 4),), "dim=1", {"dim": 1, "index": np.array([0, 2])}),
                (((3, 4),), "dim=-2 negative", {"dim": -2, "index": np.array([-1])}),
                (((2, 1, 3),), "size-1 dim, 0-d index", {"dim": 2, "index": np.array(1)}),
                (((),), "0-d", {"dim": 0, "index": np.array([0])}),
            ),
        ),
        OpInfo(
            "index_fill_tensor",
            "IndexFillBackward1",
            lambda ns, a, v, dim, index: a.index_fill(dim, ix(ns, index), v),
            lambda a, v, dim, index: _ref_fill(a, dim, index, v),
            fixed(
                (((3, 4), ()), "dim=1", {"dim": 1, "index": np.array([0, 2])}),
                (((2, 3, 2), ()), "dim=-1", {"dim": -1, "index": np.array([1])}),
                (((), ()), "0-d", {"dim": 0, "index": np.array(0)}),
            ),
        ),
    ]
)
def index_fill(self, dim: int, index: Tensor, value: Any) -> Tensor:
    """``self`` with the slices along ``dim`` at ``index`` set to ``value`` (a number or a
    0-d tensor, which then gets the gradient of every element it filled)."""
    axis, idx = normalize_dim(dim, self.ndim), index_data(index, "index_fill", 2)
    check_dtype(idx, LONG_INDEX, "index_fill_(): Expected dtype int64 for index.", IndexError)
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(
            "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    if idx.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    size = at_least_1d(self.shape)[axis]
    _check_fill_bounds(idx, size, axis)
    key = _dim_key(axis, idx % max(size, 1))
    data = self._data
    if isinstance(value, Tensor):
        check_fill_grad(self, value)
        fill = value._data.astype(data.dtype, copy=False)
        return _run_op(IndexFillTensor(), (self, value), (data, fill), key=key)
    return _run_op(IndexFill(), (self,), (data,), key=key, value=_scalar_array(value, data.dtype))


def _check_fill_bounds(idx: np.ndarray, size: int, axis: int) -> None:
    bad = (idx < -size) | (idx >= size)
    if bad.any():
        value = idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise IndexError(f"index {value} is out of bounds for dimension {axis} with size {size}")


def _ref_fill(a: np.ndarray, dim: int, index: np.ndarray, value: Any) -> np.ndarray:
    out = a.reshape(at_least_1d(a.shape)).copy()
    for i in index.reshape(-1):
        out[(slice(None),) * (dim % out.ndim) + (i,)] = value
    return out.reshape(a.shape)


@declare(function=False)
def index_fill_(self, dim: int, index: Tensor, value: Any) -> Tensor:
    """``index_fill`` in place."""
    return inplace_as(self, value, lambda t: t.index_fill(dim, index, value))


@declare(
    tests=[
        OpInfo(
            "index_copy",
            "IndexCopyBackward0",
            lambda ns, a, s, dim, index: a.index_copy(dim, ix(ns, index), s),
            _ref_copy,
            _pairs(_COPY_CASES),
        ),
    ]
)
def index_copy(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``self`` with the slices along ``dim`` at ``index`` replaced by those of ``source``."""
    axis, idx = normalize_dim(dim, self.ndim), index_data(index, "index_copy", 2)
    src = index_data(source, "index_copy", 3, "source")
    if idx.ndim > 1:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {idx.ndim})")
    message = "index_copy_(): Expected a long tensor for index, but got {}"
    check_dtype(idx, LONG_INDEX, message, RuntimeError)
    if src.dtype != self._data.dtype:
        raise RuntimeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{_scalar_type_name(self._data.dtype)} and (source) {_scalar_type_name(src.dtype)}"
        )
    _check_copy_source(self.shape, src.shape, axis, idx.size)
    size = at_least_1d(self.shape)[axis]
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        value = idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise IndexError(
            f"index_copy_(): index {value} is out of bounds for dimension {axis} with size {size}"
        )
    key = _dim_key(axis, idx)
    return _run_op(IndexCopy(), (self, source), (self._data, src), key=key, alpha=1)


def _check_copy_source(shape: tuple[int, ...], src: tuple[int, ...], axis: int, count: int) -> None:
    if not src:
        if count != 1:
            raise IndexError(
                f"index_copy_(): When source is scalar, index should have one element (got {count})"
            )
        return
    if len(src) != len(shape):
        raise IndexError(
            "index_copy_(): When source and destination are not scalars, their dimensionality "
            f"must match. Source dimensionality ({len(src)}), destination dimensionality "
            f"({len(shape)})"
        )
    dst_rest = [s for d, s in enumerate(shape) if d != axis]
    src_rest = [s for d, s in enumerate(src) if d != axis]
    if dst_rest != src_rest:
        raise RuntimeError(
            "index_copy_(): Source/destination tensor must have same slice shapes. Destination "
            f"slice shape: {' '.join(map(str, dst_rest))} at dimension {axis} and source slice "
            f"shape: {' '.join(map(str, src_rest))} at dimension 0."
        )
    if count != src[axis]:
        raise IndexError(
            f"index_copy_(): Number of indices ({count}) should be equal to source.size(dim) "
            f"({src[axis]})"
        )


@declare(function=False)
def index_copy_(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``index_copy`` in place."""
    return inplace_as(self, source, lambda t: t.index_copy(dim, index, source))
