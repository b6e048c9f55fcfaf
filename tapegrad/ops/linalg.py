"""Matrix products: mm, and matmul's vector and batched forms."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.autograd.engine import run_folded
from tapegrad.ops.base import Op
from tapegrad.ops.shape import T


def _mm(a: Any, b: Any) -> Any:
    """``a @ b`` of two matrices. On arrays: ``ndarray.dot``, the same BLAS call with less
    overhead than the matmul ufunc (0.6 us a call, bit-identical results; the method also
    skips ``np.dot``'s dispatch through ``__array_function__``, 0.2 us); with an inner
    dimension of 1 (the gradient flowing into a layer of width 1), a broadcast multiply,
    which numpy does 2-4x faster than BLAS."""
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return a * b if a.shape[1] == 1 else a.dot(b)
    return a @ b


class Mm(Op):
    __slots__ = ()
    node_name = "MmBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.dot(b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (
            _mm(g, b.mT) if na is not None else None,
            _mm(a.mT, g) if nb is not None else None,
        )


class Addmm(Op):
    """``bias + a @ b`` as one node: what ``nn.Linear`` records (PyTorch's name, too)."""

    __slots__ = ()
    node_name = "AddmmBackward0"
    saves = (1, 2)
    saved_only_for = {1: 2, 2: 1}

    def forward(self, bias: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a.dot(b)
        out += bias  # NOTE: into the fresh product, so no second full-size temporary
        return out

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (nbias, ibias), (na, _), (nb, _) = self._edges
        return (
            # reduced here rather than by the engine (the same sum): one step less per layer
            xp.sum_to(g, nbias._meta(ibias)[0]) if nbias is not None else None,
            _mm(g, b.mT) if na is not None else None,
            _mm(a.mT, g) if nb is not None else None,
        )


class ScaledAddmm(Addmm):
    """``beta * bias + alpha * (a @ b)`` (``addmm(..., beta=, alpha=)``); with ``beta=0``
    the bias is ignored, its NaN and inf included, as torch."""

    __slots__ = ("beta", "alpha")

    def __init__(self, beta: float, alpha: float) -> None:
        self.beta, self.alpha = beta, alpha

    def forward(self, bias: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a.dot(b)
        out *= self.alpha
        if self.beta:
            out += self.beta * bias
        return out

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        grad_bias, grad_a, grad_b = super().backward(xp, g, a, b)
        return (
            None if grad_bias is None else grad_bias * self.beta,
            None if grad_a is None else grad_a * self.alpha,
            None if grad_b is None else grad_b * self.alpha,
        )


class LinearAddmm(Addmm):
    """The Addmm that ``F.linear`` records, with the weight's transpose folded in.

    torch records ``AddmmBackward0`` over ``TBackward0`` over the weight. Here the walked edge
    goes to the weight itself, and backward transposes the weight's gradient: one node fewer
    to record and to run per layer (about 4 us, a seventh of a narrow layer's cost).
    ``next_functions`` still shows the ``TBackward0`` node (made on first look), and hooks
    registered on it run as the engine would run them.
    """

    __slots__ = ()
    _t_node: T | None = None  # set (in the instance dict) once someone looks

    @property
    def next_functions(self) -> tuple[Any, ...]:
        """As torch shows them: the weight's edge goes through a ``TBackward0`` node."""
        bias_edge, input_edge, weight_edge = self._edges
        if weight_edge[0] is None:
            return self._edges
        if self._t_node is None:
            t_node = T()
            t_node._edges = (weight_edge,)
            weight_shape, dtype = weight_edge[0]._meta(weight_edge[1])
            t_node._shape, t_node._dtype = weight_shape[::-1], dtype
            self._t_node = t_node
        return bias_edge, input_edge, (self._t_node, 0)

    # ``backward`` is Addmm's: the gradients for ``next_functions`` (mat2 is ``weight.t()``).

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        return self._refold(super()._run(grad, create_graph), create_graph)

    def _run_once(self, grad: Any) -> tuple[Any, ...]:
        return self._refold(super()._run_once(grad), False)

    def _run_unfolded(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        return super()._run(grad, create_graph)

    def _refold(self, outputs: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
        """Run the folded ``TBackward0`` on the gradient for ``weight.t()``."""
        grad_bias, grad_input, grad_weight_t = outputs
        if grad_weight_t is None:
            return outputs
        t_node = self._t_node
        if t_node is None or (t_node._pre_hooks is None and t_node._post_hooks is None):
            return grad_bias, grad_input, grad_weight_t.T  # what TBackward0 computes
        return grad_bias, grad_input, run_folded(t_node, grad_weight_t, create_graph)

    def _saved_tensor(self, pos: int, value: Any) -> Any:
        if pos != 2 or value is None:
            return super()._saved_tensor(pos, value)
        # the weight joins the recorded graph, transposed as torch's saved ``weight.t()``
        return super()._saved_tensor(pos, value.T).t()


class Dot(Op):
    """1-D @ 1-D."""

    __slots__ = ()
    node_name = "DotBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.dot(b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        return (None if b is None else g * b, None if a is None else g * a)


class Matmul(Op):
    """Every other matmul form (matrix-vector, batched). One node where PyTorch records a
    short chain; it carries the name of PyTorch's top node for the same call."""

    node_name = "UnsafeViewBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = (a.shape, b.shape)
        if a.ndim == 2 and b.ndim == 1:
            self.node_name = "MvBackward0"
        elif a.ndim == 1:
            self.node_name = "SqueezeBackward4" if b.ndim == 2 else "UnsafeViewBackward0"
        return np.matmul(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        # Promote 1-D operands to matrices (as matmul does), then undo it on the gradients.
        a_shape, b_shape = self.shapes
        a2_shape = (1,) + a_shape if len(a_shape) == 1 else a_shape
        b2_shape = b_shape + (1,) if len(b_shape) == 1 else b_shape
        g_shape = g.shape
        if len(a_shape) == 1:
            g_shape = g_shape[:-1] + (1,) + g_shape[-1:]
        if len(b_shape) == 1:
            g_shape = g_shape + (1,)
        g2 = xp.reshape(g, g_shape)
        ga = gb = None
        if b is not None:
            ga = xp.reshape(xp.sum_to(g2 @ xp.reshape(b, b2_shape).mT, a2_shape), a_shape)
        if a is not None:
            gb = xp.reshape(xp.sum_to(xp.reshape(a, a2_shape).mT @ g2, b2_shape), b_shape)
        return ga, gb
