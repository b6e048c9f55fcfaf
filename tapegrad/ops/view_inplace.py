"""The nodes of in-place changes seen through views, as torch records them.

A view shares its base's memory, so changing either in place changes both: the base's new
grad_fn is ``CopySlices`` (the change, applied to the view's elements of the base's
gradient), and every view of it reads its elements out of that, through
``AsStridedBackward0``. Elements are located by their flat position in the base.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._index_plan import _flat_positions
from tapegrad.engine.node import Node
from tapegrad.ops.base import ARRAY_NS, Op
from tapegrad.recording import register_view_nodes
from tapegrad.tensor import Tensor


class AsStrided(Op):
    """A view's elements, read out of its base's gradient by position."""

    node_name = "AsStridedBackward0"
    is_view = True

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        flat = xp.index_into_zeros(g, (self.size,), self.pos, True)
        return (xp.reshape(flat, self.base_shape),)


class CopySlices(Op):
    """The base of a view changed in place by ``fn``: outside the view the base's gradient
    flows on unchanged; inside, ``fn``'s backward turns it into the gradient of the view's
    old values (put back in place) and of ``fn``'s other inputs."""

    node_name = "CopySlices"

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        create_graph = xp is not ARRAY_NS
        inside = xp.index(xp.reshape(g, (-1,)), self.pos)
        if self.fn._n_out > 1:  # a custom Function's output marked dirty
            inside = [inside if i == self.fn_output_nr else None for i in range(self.fn._n_out)]
        grads = self.fn._run(inside, create_graph)
        if self._edges[0][0] is None:
            return (None, *grads[1:])
        base = xp.mul_const(g, self.outside)
        old = grads[0] if grads else None
        if old is not None:
            if old.shape != self.pos.shape:
                old = xp.sum_to(old, self.pos.shape)
            flat = xp.index_into_zeros(old, (self.outside.size,), self.pos, True)
            base = base + xp.reshape(flat, self.outside.shape)
        return (base, *grads[1:])

    def _run_once(self, grad: Any) -> tuple[Any, ...]:
        outputs = self._run(grad, False)
        self._release()
        return outputs

    def _release(self) -> None:
        self.fn._release()


def _as_strided(root: Tensor, view: Tensor) -> Node:
    """The grad_fn of ``view`` once ``root`` changed in place."""
    node = AsStrided()
    node.pos = _flat_positions(root._data, view._data)
    node.size, node.base_shape = root._data.size, root._data.shape
    node._edges = ((root.grad_fn, root._output_nr),)
    node._shape, node._dtype = view._data.shape, view._data.dtype
    return node


def _copy_slices(root: Tensor, view: Tensor, fn: Node) -> Node:
    """The grad_fn of ``root`` once ``fn`` changed its view ``view`` in place."""
    node = CopySlices()
    node.fn, node.fn_output_nr = fn, 0
    node.pos = _flat_positions(root._data, view._data)
    outside = np.ones(root._data.shape, dtype=root._data.dtype)
    outside.reshape(-1)[node.pos] = 0
    node.outside = outside
    # a leaf that requires grad cannot change in place: this base is a non-leaf, or needs none
    edge = (root.grad_fn, root._output_nr) if root.grad_fn is not None else (None, 0)
    node._edges = (edge, *fn._edges[1:])
    node._shape, node._dtype = root._data.shape, root._data.dtype
    node.saved, node._versions = (), ()
    return node


register_view_nodes(_as_strided, _copy_slices)
