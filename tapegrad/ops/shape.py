"""Shape ops: views (reshape, transpose, squeeze, expand, indexing) and joins (cat, stack).

Ops marked ``is_view`` return numpy views: the result shares memory and version counter
with its input, as PyTorch views do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.base import HoldingOp, Op


class View(Op):
    """``view``/``reshape``/``flatten``; named UnsafeViewBackward0 when a copy was needed."""

    node_name = "ViewBackward0"
    is_view = True

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.in_shape = a.shape
        out = np.reshape(a, shape)
        if a.size and not np.may_share_memory(out, a):
            self.node_name = "UnsafeViewBackward0"
            self.is_view = False
        return out

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.reshape(g, self.in_shape),)


class Alias(View):
    """``x[...]``, ``x[:, :]``: a new tensor on the same data (torch's ``at::alias``)."""

    node_name = "AliasBackward0"


class Permute(Op):
    node_name = "PermuteBackward0"
    is_view = True

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return a.transpose(axes)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.permute(g, self.inverse),)


class Transpose(Permute):
    node_name = "TransposeBackward0"


class T(Op):
    """``t()``: the transpose of a tensor with at most 2 dimensions (Linear's weight)."""

    __slots__ = ()
    node_name = "TBackward0"
    is_view = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.T

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g.T,)


class Squeeze(View):
    node_name = "SqueezeBackward0"


class SqueezeDim(View):
    node_name = "SqueezeBackward1"


class Unsqueeze(View):
    node_name = "UnsqueezeBackward0"


class Expand(Op):
    """A broadcast view; the engine sums the gradient back to the input's shape."""

    __slots__ = ()
    node_name = "ExpandBackward0"
    is_view = True

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(a, shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


# ----------------------------------------------------------------------------- indexing


class Select(Op):
    """``x[..., i, ...]`` for one integer index."""

    node_name = "SelectBackward0"
    is_view = True

    def forward(self, a: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        self.in_shape, self.key = a.shape, key
        return a[key]

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index_into_zeros(g, self.in_shape, self.key, False),)


class Slice(Select):
    node_name = "SliceBackward0"


class Index(HoldingOp):
    """Advanced indexing (integer arrays, boolean masks); repeated indices accumulate."""

    node_name = "IndexBackward0"
    held = ("key",)

    def forward(self, a: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        self.in_shape, self.key = a.shape, key
        return a[key]

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index_into_zeros(g, self.in_shape, self.key, True),)


class IndexIntoZeros(Op):
    """The backward of indexing, as an op of its own so it can be differentiated again."""

    node_name = "IndexPutBackward0"

    def forward(
        self, g: np.ndarray, shape: tuple[int, ...], key: Any, accumulate: bool
    ) -> np.ndarray:
        from tapegrad.ops.base import ARRAY_NS

        self.key = key
        return ARRAY_NS.index_into_zeros(g, shape, key, accumulate)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index(g, self.key),)


# ----------------------------------------------------------------------------- joins


class Cat(Op):
    node_name = "CatBackward0"

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.bounds = np.cumsum([0] + [a.shape[axis] for a in arrays]).tolist()
        return np.concatenate(arrays, axis=axis)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        lead = (slice(None),) * self.axis
        return tuple(
            xp.index(g, lead + (slice(lo, hi),)) if node is not None else None
            for (node, _), lo, hi in zip(self._edges, self.bounds, self.bounds[1:])
        )


class Stack(Op):
    node_name = "StackBackward0"

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        lead = (slice(None),) * self.axis
        return tuple(
            xp.index(g, lead + (i,)) if node is not None else None
            for i, (node, _) in enumerate(self._edges)
        )
