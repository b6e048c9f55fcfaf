"""Sorting and order statistics: sort, argsort, topk, kthvalue, median."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import normalize_dim
from tapegrad.ops.base import HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import Max, numpy_names, return_type
from tapegrad.ops.samples import Array, OpInfo, Sample
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

SortResult = return_type("sort")
TopkResult = return_type("topk")
KthvalueResult = return_type("kthvalue")
MedianResult = return_type("median")


# -------------------------------------------------------------------------- ops


def along_key(indices: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The advanced-index key that picks ``indices`` along ``axis`` (``take_along_axis``'s)."""
    ndim = indices.ndim
    return tuple(
        indices if i == axis else np.arange(n).reshape([n if j == i else 1 for j in range(ndim)])
        for i, n in enumerate(indices.shape)
    )


class Picked(HoldingOp):
    """Values picked along a dim at ``indices`` (keepdim form): the gradient goes back to the
    picked positions (added up where a position is picked twice, as cummax's)."""

    held = ("indices",)
    accumulate = False

    def forward(self, a: np.ndarray, axis: int, indices: np.ndarray, keepdim: bool) -> np.ndarray:
        self.shape, self.axis, self.indices, self.keepdim = a.shape, axis, indices, keepdim
        if not a.ndim:
            return a.copy()
        out = np.take_along_axis(a, indices, axis)
        return out if keepdim else np.squeeze(out, axis)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if not self.shape:
            return (g,)
        if not self.keepdim:
            g = xp.reshape(g, self.indices.shape)
        key = along_key(self.indices, self.axis)
        return (xp.index_into_zeros(g, self.shape, key, self.accumulate),)


class Sort(Picked):
    """``sort()``."""

    node_name = "SortBackward0"


class SortStable(Picked):
    """``sort(stable=...)`` (torch's other overload, another node name)."""

    node_name = "SortBackward1"


class Topk(Picked):
    """``topk(k)``."""

    node_name = "TopkBackward0"


class Kthvalue(Picked):
    """``kthvalue(k)``."""

    node_name = "KthvalueBackward0"


class MedianDim(Picked):
    """``median(dim)``."""

    node_name = "MedianBackward1"


class Median(Max):
    """``median()`` of everything: the lower of the two middle values, NaN if any is NaN;
    tied medians share the gradient evenly, as torch."""

    __slots__ = ()
    node_name = "MedianBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        flat = a.reshape(-1)
        if not flat.size or np.isnan(flat).any():
            return np.array(np.nan, dtype=a.dtype)
        return np.array(np.partition(flat, (flat.size - 1) // 2)[(flat.size - 1) // 2])


def sort_indices(data: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable sort order along ``axis``, NaN counted largest (torch's order); descending
    keeps ties in their original order too."""
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    order = np.argsort(np.flip(data, axis), axis=axis, kind="stable")
    return data.shape[axis] - 1 - np.flip(order, axis)


def _first(order: np.ndarray, axis: int, count: int) -> np.ndarray:
    return np.take(order, np.arange(count), axis=axis)


def _at(order: np.ndarray, axis: int, position: int) -> np.ndarray:
    return np.take(order, [position], axis=axis)


def _order(t: Tensor, find: Any) -> np.ndarray:
    """``find(data)``'s indices (int64); a 0-d tensor's only index is 0."""
    return np.asarray(find(t._data), dtype=np.int64) if t.ndim else np.zeros((), np.int64)


def _picked(op: Picked, t: Tensor, axis: int, idx: np.ndarray, keepdim: bool = True) -> Tensor:
    return _run_op(op, (t,), (t._data,), axis=axis, indices=idx, keepdim=keepdim)


def _indices(idx: np.ndarray, keepdim: bool, axis: int, ndim: int) -> Tensor:
    idx = np.asarray(idx, dtype=np.int64)
    return _wrap(idx if keepdim or not ndim else np.squeeze(idx, axis))


# ------------------------------------------------- Tensor methods and functions


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Distinct values (no ties), spaced apart: order statistics are differentiable there."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.5 + rng.uniform(-0.1, 0.1, size)).reshape(shape)


def _sort_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_distinct(rng, (3, 4)),), "default dim=-1", {}),
        Sample((_distinct(rng, (3, 4)),), "dim=0 descending", {"dim": 0, "descending": True}),
        Sample((_distinct(rng, (2, 3, 4)),), "dim=-2", {"dim": -2}),
        Sample((_distinct(rng, (5,)),), "vector", {}),
        Sample((_distinct(rng, ()),), "0-d", {}),
        Sample((_distinct(rng, (3, 1)),), "size-1 dim", {"dim": 1}),
    ]


def _np_sort(a: Array, dim: int = -1, descending: bool = False, **_: Any) -> Array:
    if not a.ndim:
        return a
    out = np.sort(a, axis=dim)
    return np.flip(out, dim) if descending else out


@declare(
    tests=[
        OpInfo(
            "sort",
            "SortBackward0",
            lambda ns, a, **kw: a.sort(**kw).values,
            _np_sort,
            _sort_samples,
        ),
        OpInfo(
            "sort_stable",
            "SortBackward1",
            lambda ns, a, **kw: ns.sort(a, stable=True, **kw)[0],
            _np_sort,
            _sort_samples,
        ),
    ]
)
@numpy_names
def sort(self, dim: int = -1, descending: bool = False, *, stable: bool | None = None) -> Any:
    """``(values, indices)`` sorted along ``dim``; stable (ties keep their order), NaN last
    (first when descending), as torch on the CPU."""
    axis = normalize_dim(dim, self.ndim)
    idx = _order(self, lambda data: sort_indices(data, axis, descending))
    op = SortStable() if stable is not None else Sort()
    return SortResult(_picked(op, self, axis, idx), _indices(idx, True, axis, self.ndim))


@declare()
@numpy_names
def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort along ``dim`` (as ``sort(...).indices``)."""
    axis = normalize_dim(dim, self.ndim)
    return _wrap(_order(self, lambda data: sort_indices(data, axis, descending)))


def _np_topk(
    a: Array,
    k: int,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,  # noqa: A002
) -> Array:
    return _first(np.flip(np.sort(a, axis=dim), dim) if largest else np.sort(a, axis=dim), dim, k)


@declare(
    tests=[
        OpInfo(
            "topk",
            "TopkBackward0",
            lambda ns, a, **kw: a.topk(**kw).values,
            _np_topk,
            lambda rng: [
                Sample((_distinct(rng, (3, 5)),), "k=2", {"k": 2}),
                Sample(
                    (_distinct(rng, (4, 3)),),
                    "k=3 dim=0 smallest",
                    {"k": 3, "dim": 0, "largest": False},
                ),
                Sample((_distinct(rng, (2, 3, 4)),), "k=1 dim=-2", {"k": 1, "dim": -2}),
                Sample((_distinct(rng, (6,)),), "vector k=6", {"k": 6}),
            ],
        ),
    ]
)
@numpy_names
def topk(
    self,
    k: int,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,  # noqa: A002
) -> Any:
    """``(values, indices)`` of the ``k`` largest (or smallest) along ``dim``, in order
    (``sorted=False`` gives them in order too)."""
    axis = normalize_dim(dim, self.ndim)
    if self._data.dtype == np.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    size = self.shape[axis] if self.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    idx = _order(self, lambda data: _first(sort_indices(data, axis, largest), axis, k))
    return TopkResult(_picked(Topk(), self, axis, idx), _indices(idx, True, axis, self.ndim))


def _order_input(t: Tensor, name: str, kernel: str, axis: int) -> None:
    if t._data.dtype == np.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    if t.ndim and t.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")


@declare(
    tests=[
        OpInfo(
            "kthvalue",
            "KthvalueBackward0",
            lambda ns, a, **kw: a.kthvalue(**kw).values,
            lambda a, k, dim=-1, keepdim=False: np.take(
                np.sort(a, axis=dim), [k - 1], axis=dim
            ).reshape(np.delete(a.shape, dim) if not keepdim else _kept(a.shape, dim)),
            lambda rng: [
                Sample((_distinct(rng, (3, 5)),), "k=2", {"k": 2}),
                Sample(
                    (_distinct(rng, (4, 3)),),
                    "k=4 dim=0 keepdim",
                    {"k": 4, "dim": 0, "keepdim": True},
                ),
                Sample((_distinct(rng, (2, 3, 4)),), "k=1 dim=-2", {"k": 1, "dim": -2}),
                Sample((_distinct(rng, (6,)),), "vector k=3", {"k": 3}),
            ],
        ),
    ]
)
@numpy_names
def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """``(values, indices)`` of the ``k``-th smallest along ``dim`` (1-based)."""
    axis = normalize_dim(dim, self.ndim)
    _order_input(self, "kthvalue", "kthvalue_cpu", axis)
    size = self.shape[axis] if self.ndim else 1
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {axis}")
    idx = _order(self, lambda data: _at(sort_indices(data, axis, False), axis, k - 1))
    values = _picked(Kthvalue(), self, axis, idx, keepdim)
    return KthvalueResult(values, _indices(idx, keepdim, axis, self.ndim))


def _kept(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    axis = dim % len(shape)
    return tuple(1 if i == axis else s for i, s in enumerate(shape))


def _np_median(a: Array, dim: int | None = None, keepdim: bool = False) -> Array:
    if dim is None:
        return np.sort(a.reshape(-1))[(a.size - 1) // 2]
    n = a.shape[dim]
    out = np.take(np.sort(a, axis=dim), [(n - 1) // 2], axis=dim)
    return out if keepdim else np.squeeze(out, dim)


@declare(
    tests=[
        OpInfo(
            "median",
            "MedianBackward0",
            lambda ns, a: a.median(),
            _np_median,
            lambda rng: [
                Sample((_distinct(rng, (3, 4)),), "even count"),
                Sample((_distinct(rng, (5,)),), "odd count"),
                Sample((_distinct(rng, ()),), "0-d"),
            ],
        ),
        OpInfo(
            "median_dim",
            "MedianBackward1",
            lambda ns, a, **kw: a.median(**kw).values,
            _np_median,
            lambda rng: [
                Sample((_distinct(rng, (3, 4)),), "dim=1", {"dim": 1}),
                Sample((_distinct(rng, (5, 3)),), "dim=0 keepdim", {"dim": 0, "keepdim": True}),
                Sample((_distinct(rng, (2, 3, 4)),), "dim=-1", {"dim": -1}),
                Sample((_distinct(rng, (1, 3)),), "size-1 dim", {"dim": 0}),
            ],
        ),
    ]
)
@numpy_names
def median(self, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median of everything (0-d), or ``(values, indices)`` along ``dim``; NaN
    wins: a slice with a NaN has median NaN at its first NaN, as torch."""
    if dim is None:
        if keepdim:
            raise TypeError('median() missing 1 required positional arguments: "dim"')
        if self._data.dtype == np.bool_:
            raise NotImplementedError("\"median_cpu\" not implemented for 'Bool'")
        return _run_op(Median(), (self,), (self._data,))
    axis = normalize_dim(dim, self.ndim)
    _order_input(self, "median", "median_out", axis)
    idx = _order(self, lambda data: _median_indices(data, axis))
    values = _picked(MedianDim(), self, axis, idx, keepdim)
    return MedianResult(values, _indices(idx, keepdim, axis, self.ndim))


def _median_indices(data: np.ndarray, axis: int) -> np.ndarray:
    middle = (data.shape[axis] - 1) // 2
    idx = _at(sort_indices(data, axis, False), axis, middle)
    if data.dtype.kind == "f":
        nan = np.isnan(data)
        has_nan = nan.any(axis=axis, keepdims=True)
        idx = np.where(has_nan, np.argmax(nan, axis=axis, keepdims=True), idx)
    return idx
