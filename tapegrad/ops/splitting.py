"""Views of parts of a tensor: narrow, split, chunk, unbind and unfold. split, chunk and
unbind are each one node with several outputs, as in torch (every piece's ``grad_fn`` is the
same SplitBackward0), so a backward through some of the pieces gets zeros for the others."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._array import normalize_dim
from tapegrad.engine import anomaly
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.indexing import Slice
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.recording import _edge_of, _finish, _grad_state, _keep_view, _run_op
from tapegrad.tensor import Tensor, _wrap

# -------------------------------------------------------------------------- ops


class Split(Op):
    """Pieces of ``sizes`` along ``axis``; backward joins the pieces' gradients."""

    node_name = "SplitBackward0"
    is_view = True

    def forward(self, a: np.ndarray, sizes: Sequence[int], axis: int) -> list[np.ndarray]:
        self.axis = axis
        bounds = np.cumsum([0, *sizes]).tolist()
        lead = (slice(None),) * axis
        return [a[lead + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])]

    def _meta(self, index: int) -> tuple[tuple[int, ...], np.dtype]:
        return self.metas[index]

    def _grads(self, xp: Any, grad: Any) -> list[Any]:
        grads = grad if self._n_out > 1 else [grad]
        return [xp.zeros(*m) if g is None else g for g, m in zip(grads, self.metas)]

    def backward(self, xp: Any, grad: Any) -> tuple[Any, ...]:
        return (xp.cat(self._grads(xp, grad), self.axis),)


class SplitWithSizes(Split):
    node_name = "SplitWithSizesBackward0"


class Unbind(Split):
    """Pieces of size 1 along ``axis``, without that dimension."""

    node_name = "UnbindBackward0"

    def forward(self, a: np.ndarray, sizes: Sequence[int], axis: int) -> list[np.ndarray]:
        self.axis = axis
        lead = (slice(None),) * axis
        return [a[lead + (i,)] for i in range(a.shape[axis])]

    def backward(self, xp: Any, grad: Any) -> tuple[Any, ...]:
        grads = self._grads(xp, grad)
        parts = [
            xp.reshape(g, m[0][: self.axis] + (1,) + m[0][self.axis :])
            for g, m in zip(grads, self.metas)
        ]
        return (xp.cat(parts, self.axis),)


class Unfold(Op):
    """``Tensor.unfold``: windows of ``size`` every ``step`` along ``dim``, as a view."""

    node_name = "UnfoldBackward0"
    is_view = True

    def forward(self, a: np.ndarray, dim: int, size: int, step: int) -> np.ndarray:
        self.in_shape, self.dim = a.shape, dim
        flat = a.reshape(1) if a.ndim == 0 else a
        count = (flat.shape[dim] - size) // step + 1
        shape = flat.shape[:dim] + (count,) + flat.shape[dim + 1 :] + (size,)
        strides = flat.strides[:dim] + (flat.strides[dim] * step,) + flat.strides[dim + 1 :]
        out = np.lib.stride_tricks.as_strided(
            flat, shape, strides + (flat.strides[dim],), writeable=step >= size
        )
        # which input position each window element reads, for backward
        self.index = np.arange(count)[:, None] * step + np.arange(size)[None, :]
        return out[0] if a.ndim == 0 else out

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if not self.in_shape:
            g = xp.reshape(g, (1, g.shape[-1]))
        nd = len(g.shape)
        axes = tuple(range(self.dim + 1)) + (nd - 1,) + tuple(range(self.dim + 1, nd - 1))
        key = (slice(None),) * self.dim + (self.index,)
        shape = self.in_shape or (1,)
        out = xp.index_into_zeros(xp.permute(g, axes), shape, key, True)
        return (xp.reshape(out, self.in_shape),)


def _run_many(op: Split, t: Tensor, **meta: Any) -> tuple[Tensor, ...]:
    """Run a multi-output view op: each output is a view of ``t`` and, when recorded, output
    ``i`` of the one node."""
    outs = op.forward(t._data, **meta)
    op._n_out = len(outs)
    op.metas = [(o.shape, o.dtype) for o in outs]
    if not (_grad_state.enabled and t._requires_grad) or not outs:
        return tuple(_finish(op, (t,), (t._data,), o) for o in outs)
    op._edges = (_edge_of(t),)
    op._shape, op._dtype = op.metas[0]
    if anomaly._state.enabled:
        op._trace = anomaly.forward_trace()
    results = []
    for i, out in enumerate(outs):
        piece = _wrap(out, op, i, t._vc)
        piece._is_view = True
        if t.grad_fn is not None:  # only a non-leaf can change in place while recorded
            _keep_view(t, piece)
        results.append(piece)
    return tuple(results)


# --------------------------------------------------------------- Tensor methods


@declare(
    function=False,
    tests=[
        OpInfo(
            "split",
            "SplitBackward0",
            lambda ns, a, size, dim, i: a.split(size, dim)[i],
            lambda a, size, dim, i: np.split(a, range(size, a.shape[dim], size), dim)[i],
            fixed(
                (((5, 4),), "last, shorter piece", {"size": 2, "dim": 0, "i": 2}),
                (((3, 4),), "dim -1", {"size": 2, "dim": -1, "i": 0}),
            ),
        ),
        OpInfo(
            "split_with_sizes",
            "SplitWithSizesBackward0",
            lambda ns, a, sizes, dim, i: a.split(sizes, dim)[i],
            lambda a, sizes, dim, i: np.split(a, np.cumsum(sizes)[:-1], dim)[i],
            fixed((((3, 6),), "[1, 3, 2]", {"sizes": [1, 3, 2], "dim": 1, "i": 1})),
        ),
    ],
)
def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of ``split_size`` elements along ``dim`` (the last may be shorter), or of the
    sizes in a list."""
    if isinstance(split_size, Sequence):
        return split_with_sizes(self, split_size, dim)
    if not self.ndim:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    size = operator.index(split_size)
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    axis = normalize_dim(dim, self.ndim)
    length = self.shape[axis]
    if size == 0 and length:
        raise RuntimeError(
            f"split_size can only be 0 if dimension size is 0, but got dimension size of {length}"
        )
    count = max(-(-length // size), 1) if size else 1
    sizes = [size] * (count - 1) + [length - size * (count - 1)]
    return _run_many(Split(), self, sizes=sizes, axis=axis)


@declare(method=False, name="split")
def split_function(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``tensor.split(split_size_or_sections, dim)``."""
    return tensor.split(split_size_or_sections, dim)


@declare()
def split_with_sizes(self, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Views of the given sizes along ``dim``; they must add up to its size."""
    if not self.ndim:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    sizes = [operator.index(s) for s in split_sizes]
    length = self.shape[normalize_dim(dim, self.ndim)]
    if any(s < 0 for s in sizes):
        raise RuntimeError(
            "split_with_sizes expects split_sizes have only non-negative entries, but got "
            f"split_sizes={sizes}"
        )
    if sum(sizes) != length:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {length} (input tensor's "
            f"size at dimension {dim}), but got split_sizes={sizes}"
        )
    return _run_many(SplitWithSizes(), self, sizes=sizes, axis=normalize_dim(dim, self.ndim))


@declare(
    tests=[
        OpInfo(
            "chunk",
            "SplitBackward0",
            lambda ns, a, chunks, dim, i: a.chunk(chunks, dim)[i],
            lambda a, chunks, dim, i: np.array_split(a, chunks, dim)[i],
            fixed((((3, 4),), "2 chunks dim 1", {"chunks": 2, "dim": 1, "i": 1})),
        ),
    ]
)
def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` views of equal size along ``dim`` (the last may be smaller,
    and there may be fewer)."""
    if not self.ndim:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    length = self.shape[normalize_dim(dim, self.ndim)]
    size = -(-length // chunks)
    if size == 0 and length == 0:  # torch keeps the number of (empty) chunks
        return self.split([0] * chunks, dim)
    return self.split(size, dim)


@declare(
    tests=[
        OpInfo(
            "unbind",
            "UnbindBackward0",
            lambda ns, a, dim, i: a.unbind(dim)[i],
            lambda a, dim, i: np.take(a, i, dim),
            fixed(
                (((3, 4),), "dim 0", {"dim": 0, "i": 1}),
                (((2, 3, 4),), "dim -1", {"dim": -1, "i": 3}),
            ),
        ),
    ]
)
def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, as views without that dimension."""
    if not self.ndim:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    return _run_many(Unbind(), self, sizes=(), axis=normalize_dim(dim, self.ndim))


# ------------------------------------------------------------------------ narrow


@declare(
    tests=[
        OpInfo(
            "narrow",
            "SliceBackward0",
            lambda ns, a, dim, start, length: a.narrow(dim, start, length),
            lambda a, dim, start, length: a.swapaxes(0, dim)[start : start + length].swapaxes(
                0, dim
            ),
            fixed(
                (((5, 4),), "dim 0", {"dim": 0, "start": 1, "length": 3}),
                (((3, 4),), "dim -1 start -3", {"dim": -1, "start": -3, "length": 2}),
                (((3, 1),), "size-1 dim", {"dim": 1, "start": 0, "length": 1}),
            ),
        ),
    ]
)
def narrow(self, dim: int, start: Any, length: int) -> Tensor:
    """The view of ``length`` elements from ``start`` along ``dim``."""
    if not self.ndim:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    start = start.item() if isinstance(start, Tensor) else operator.index(start)
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    axis = normalize_dim(dim, self.ndim)
    size = self.shape[axis]
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    start = start + size if start < 0 else start
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    key = (slice(None),) * axis + (slice(start, start + length),)
    return _run_op(Slice(), (self,), (self._data,), key=key)


# ------------------------------------------------------------------------ unfold


def _np_unfold(a: np.ndarray, dimension: int, size: int, step: int) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(a, size, axis=dimension)
    index = [slice(None)] * windows.ndim
    index[dimension % a.ndim] = slice(None, None, step)
    return windows[tuple(index)]


@declare(
    function=False,
    tests=[
        OpInfo(
            "unfold",
            "UnfoldBackward0",
            lambda ns, a, **kw: a.unfold(**kw),
            _np_unfold,
            fixed(
                (((3, 5),), "overlapping", {"dimension": 1, "size": 2, "step": 1}),
                (((3, 7),), "step 3", {"dimension": -1, "size": 2, "step": 3}),
                (((5, 2, 3),), "dim 0", {"dimension": 0, "size": 3, "step": 2}),
            ),
        ),
    ],
)
def unfold(self, dimension: int, size: int, step: int) -> Tensor:
    """A view of the windows of ``size`` elements, ``step`` apart, along ``dimension``."""
    axis = normalize_dim(dimension, self.ndim)
    length = self.shape[axis] if self.ndim else 1
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {axis} is {length} but size is {size}"
        )
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return _run_op(Unfold(), (self,), (self._data,), dim=axis, size=size, step=step)
