"""Triangles and diagonals: tril, triu (and in place), diag, diagonal, diag_embed."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import normalize_dim
from tapegrad.inplace import _inplace
from tapegrad.ops.base import ARRAY_NS, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# ---------------------------------------------------------------- diagonal keys


def _diag_plan(
    shape: tuple[int, ...], offset: int, d1: int, d2: int
) -> tuple[tuple[Any, ...], tuple[int, ...], tuple[int, ...]]:
    """How to reach the diagonal of ``shape`` over dims ``d1``/``d2`` by indexing.

    Returns the index key, the permutation taking the diagonal's layout (other dims, then
    the diagonal) to the layout ``array[key]`` has (numpy moves the indexed dimension to the
    front unless ``d1`` and ``d2`` are adjacent), and its inverse.
    """
    rows, cols = shape[d1] - max(-offset, 0), shape[d2] - max(offset, 0)
    i = np.arange(max(min(rows, cols), 0))
    key = [slice(None)] * len(shape)
    key[d1], key[d2] = i + max(-offset, 0), i + max(offset, 0)
    m = len(shape) - 2
    if abs(d1 - d2) == 1:
        before = min(d1, d2)
        perm = (*range(before), m, *range(before, m))
    else:
        perm = (m, *range(m))
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    return tuple(key), perm, inverse


# -------------------------------------------------------------------------- ops


class Tril(Op):
    node_name = "TrilBackward0"

    def forward(self, a: np.ndarray, k: int) -> np.ndarray:
        self.k = k
        return np.tril(a, k)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.tril(g, self.k),)


class Triu(Tril):
    node_name = "TriuBackward0"

    def forward(self, a: np.ndarray, k: int) -> np.ndarray:
        self.k = k
        return np.triu(a, k)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.triu(g, self.k),)


class Diagonal(Op):
    """``diagonal``: a view of one diagonal, moved to the last dimension."""

    node_name = "DiagonalBackward0"
    is_view = True

    def forward(self, a: np.ndarray, offset: int, d1: int, d2: int) -> np.ndarray:
        self.in_shape = a.shape
        self.key, self.perm, _ = _diag_plan(a.shape, offset, d1, d2)
        n = len(self.key[d1])
        start = [0] * a.ndim
        start[d1], start[d2] = max(-offset, 0), max(offset, 0)
        base = a[tuple(slice(min(s, a.shape[d]), None) for d, s in enumerate(start))]
        keep = [d for d in range(a.ndim) if d not in (d1, d2)]
        shape = tuple(a.shape[d] for d in keep) + (n,)
        strides = tuple(a.strides[d] for d in keep) + (a.strides[d1] + a.strides[d2],)
        return np.lib.stride_tricks.as_strided(base, shape, strides, writeable=base.flags.writeable)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        placed = xp.permute(g, self.perm)
        return (xp.index_into_zeros(placed, self.in_shape, self.key, False),)


class DiagonalCopy(Diagonal):
    """``diag`` of a matrix: the diagonal as a new tensor."""

    node_name = "DiagonalBackward0_copy"
    is_view = False

    def forward(self, a: np.ndarray, offset: int, d1: int, d2: int) -> np.ndarray:
        return super().forward(a, offset, d1, d2).copy()


class DiagEmbed(Op):
    """Put the last dimension on the diagonal (``offset``) of dims ``d1``/``d2``."""

    node_name = "DiagEmbedBackward0"

    def forward(self, a: np.ndarray, offset: int, d1: int, d2: int) -> np.ndarray:
        n = (a.shape[-1] if a.ndim else 1) + abs(offset)
        rest = iter(a.shape[:-1])
        shape = tuple(n if d in (d1, d2) else next(rest) for d in range(a.ndim + 1))
        self.key, self.perm, self.inverse = _diag_plan(shape, offset, d1, d2)
        return ARRAY_NS.index_into_zeros(a.transpose(self.perm), shape, self.key, False)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.permute(xp.index(g, self.key), self.inverse),)


# ------------------------------------------------------------------ tril, triu


def _triangle_check(t: Tensor, name: str) -> None:
    if t.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")


_TRIANGLE_SAMPLES = fixed(
    (((3, 4),), "main diagonal", {"diagonal": 0}),
    (((4, 3),), "diagonal=1", {"diagonal": 1}),
    (((2, 3, 4),), "batched, diagonal=-1", {"diagonal": -1}),
    (((1, 3),), "size-1 dim", {"diagonal": 0}),
)


@declare(
    tests=[
        OpInfo(
            "tril",
            "TrilBackward0",
            lambda ns, a, diagonal: a.tril(diagonal),
            lambda a, diagonal: np.tril(a, diagonal),
            _TRIANGLE_SAMPLES,
        ),
    ]
)
def tril(self, diagonal: int = 0) -> Tensor:
    """The lower triangle (of the last two dims): zeros above the ``diagonal``-th diagonal."""
    _triangle_check(self, "tril")
    return _run_op(Tril(), (self,), (self._data,), k=diagonal)


@declare(
    tests=[
        OpInfo(
            "triu",
            "TriuBackward0",
            lambda ns, a, diagonal: ns.triu(a, diagonal=diagonal),
            lambda a, diagonal: np.triu(a, diagonal),
            _TRIANGLE_SAMPLES,
        ),
    ]
)
def triu(self, diagonal: int = 0) -> Tensor:
    """The upper triangle (of the last two dims): zeros below the ``diagonal``-th diagonal."""
    _triangle_check(self, "triu")
    return _run_op(Triu(), (self,), (self._data,), k=diagonal)


def _tril_kernel(a: np.ndarray, k: int, out: np.ndarray) -> None:
    np.copyto(out, np.tril(a, k))


def _triu_kernel(a: np.ndarray, k: int, out: np.ndarray) -> None:
    np.copyto(out, np.triu(a, k))


@declare(function=False)
def tril_(self, diagonal: int = 0) -> Tensor:
    """``tril`` in place (recorded as TrilBackward0 on a non-leaf, as torch)."""
    _triangle_check(self, "tril")
    return _inplace(self, _tril_kernel, lambda t, k: t.tril(k), diagonal)


@declare(function=False)
def triu_(self, diagonal: int = 0) -> Tensor:
    """``triu`` in place (recorded as TriuBackward0 on a non-leaf, as torch)."""
    _triangle_check(self, "triu")
    return _inplace(self, _triu_kernel, lambda t, k: t.triu(k), diagonal)


# ------------------------------------------------------- diag, diagonal, diag_embed


def _diag_dims(ndim: int, dim1: int, dim2: int) -> tuple[int, int]:
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


@declare(
    tests=[
        OpInfo(
            "diag_vector",
            "DiagEmbedBackward0",
            lambda ns, a, diagonal: a.diag(diagonal),
            lambda a, diagonal: np.diag(a, diagonal),
            fixed(
                (((3,),), "main", {"diagonal": 0}),
                (((3,),), "above", {"diagonal": 2}),
                (((1,),), "size 1, below", {"diagonal": -1}),
            ),
        ),
        OpInfo(
            "diag_matrix",
            "DiagonalBackward0_copy",
            lambda ns, a, diagonal: ns.diag(a, diagonal),
            lambda a, diagonal: np.diag(a, diagonal),
            fixed(
                (((3, 4),), "main", {"diagonal": 0}),
                (((3, 4),), "above", {"diagonal": 1}),
                (((4, 3),), "below", {"diagonal": -2}),
            ),
        ),
    ]
)
def diag(self, diagonal: int = 0) -> Tensor:
    """A 1-d tensor as the ``diagonal``-th diagonal of a square matrix, or that diagonal of a
    matrix as a 1-d tensor."""
    if self.ndim == 1:
        return _run_op(DiagEmbed(), (self,), (self._data,), offset=diagonal, d1=0, d2=1)
    if self.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")
    return _run_op(DiagonalCopy(), (self,), (self._data,), offset=diagonal, d1=0, d2=1)


@declare(
    tests=[
        OpInfo(
            "diagonal",
            "DiagonalBackward0",
            lambda ns, a, **kw: a.diagonal(**kw),
            lambda a, offset=0, dim1=0, dim2=1: np.diagonal(a, offset, dim1, dim2),
            fixed(
                (((3, 4),), "main", {}),
                (((3, 4),), "offset 1", {"offset": 1}),
                (((2, 3, 4),), "dims -1, 0, offset -1", {"offset": -1, "dim1": -1, "dim2": 0}),
                (((2, 3, 4),), "dims 2, 1", {"offset": 1, "dim1": 2, "dim2": 1}),
            ),
        ),
    ]
)
def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A view of the diagonal ``offset`` over dims ``dim1``/``dim2``, as the last dim."""
    d1, d2 = _diag_dims(self.ndim, dim1, dim2)
    return _run_op(Diagonal(), (self,), (self._data,), offset=offset, d1=d1, d2=d2)


def _np_diag_embed(a: np.ndarray, offset: int = 0, dim1: int = -2, dim2: int = -1) -> np.ndarray:
    n = a.shape[-1] + abs(offset)
    out = np.zeros(a.shape[:-1] + (n, n))
    i = np.arange(a.shape[-1])
    out[..., i + max(-offset, 0), i + max(offset, 0)] = a
    d1, d2 = dim1 % (a.ndim + 1), dim2 % (a.ndim + 1)
    return np.moveaxis(out, (-2, -1), (d1, d2))


@declare(
    tests=[
        OpInfo(
            "diag_embed",
            "DiagEmbedBackward0",
            lambda ns, a, **kw: ns.diag_embed(a, **kw),
            _np_diag_embed,
            fixed(
                (((2, 3),), "batched", {}),
                (((2, 3),), "offset 1, dims 0, 2", {"offset": 1, "dim1": 0, "dim2": 2}),
                (((2, 3),), "dims -1, -2, offset -1", {"offset": -1, "dim1": -1, "dim2": -2}),
            ),
        ),
    ]
)
def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Put the last dimension on the diagonal ``offset`` of two new dims ``dim1``/``dim2``."""
    d1, d2 = _diag_dims(self.ndim + 1, dim1, dim2)
    return _run_op(DiagEmbed(), (self,), (self._data,), offset=offset, d1=d1, d2=d2)
