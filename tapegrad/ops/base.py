"""The Op base class, and the array namespace its backward rules run on.

A backward rule is written once, with operators and ``xp.<fn>`` calls. On the fast path ``xp``
is ``ARRAY_NS`` (numpy) and the rule sees arrays; with ``create_graph=True`` the tensor layer's
namespace is used instead, the rule sees Tensors, and the backward pass is itself recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tapegrad._array import sign, sum_to
from tapegrad.engine.backward import _donation
from tapegrad.engine.node import SECOND_BACKWARD, AccumulateGrad, Node, check_version
from tapegrad.recording import OUT

# Tensor method names whose numpy function is spelled otherwise.
_NUMPY_NAMES = {
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "atan2": "arctan2",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "pow": "power",
    "mul": "multiply",
    "div": "divide",
    "sub": "subtract",
    "neg": "negative",
}


class ArrayNamespace:
    """The functions backward rules may call, on numpy arrays.

    Besides the ones written out below, ``xp.<name>`` is numpy's function of that name (or of
    its numpy spelling: ``xp.asin`` is ``np.arcsin``), so a new op's backward rule can use any
    elementwise function that is also a Tensor method: ``TensorNamespace`` gives the method.
    """

    def __getattr__(self, name: str) -> Any:
        fn = getattr(np, _NUMPY_NAMES.get(name, name), None)
        if fn is None or name.startswith("_"):
            raise AttributeError(f"the backward namespace has no function {name!r}")
        return fn

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    matmul = staticmethod(np.matmul)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> np.ndarray:
        return np.where(cond, a, b)

    sign = staticmethod(sign)  # sign(nan) = 0, so abs'(nan) = 0, as torch

    @staticmethod
    def zeros_like(a: np.ndarray) -> np.ndarray:
        return np.zeros_like(a)

    @staticmethod
    def floor_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.floor_divide(a, b)

    @staticmethod
    def sum(a: np.ndarray, axis: tuple[int, ...], keepdims: bool = True) -> np.ndarray:
        return a.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def reshape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.reshape(a, shape)

    @staticmethod
    def permute(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.transpose(a, axes)

    @staticmethod
    def expand(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        if a.ndim == 0 and isinstance(a, np.ndarray):
            # NOTE: a zero-stride view of a 0-d array: 10x cheaper than np.broadcast_to
            out = np.ndarray(shape, a.dtype, a, 0, (0,) * len(shape))
            out.flags.writeable = False
            return out
        return np.broadcast_to(a, shape)

    @staticmethod
    def sum_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return sum_to(a, shape)

    @staticmethod
    def index(a: np.ndarray, key: Any) -> np.ndarray:
        return a[key]

    @staticmethod
    def index_into_zeros(
        g: np.ndarray, shape: tuple[int, ...], key: Any, accumulate: bool
    ) -> np.ndarray:
        """Zeros of ``shape`` with ``g`` placed (or, for repeated indices, added) at ``key``."""
        out = np.zeros(shape, dtype=g.dtype)
        if accumulate:
            np.add.at(out, key, g)
        else:
            out[key] = g
        return out

    @staticmethod
    def cat(parts: list[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(parts, axis=axis)

    @staticmethod
    def mul_const(g: np.ndarray, const: np.ndarray) -> np.ndarray:
        """Multiply by a constant array (a mask or weights) that is never differentiated."""
        return g * const

    @staticmethod
    def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Zeros of ``shape`` (a multi-output node's missing output gradients)."""
        return np.zeros(shape, dtype)


ARRAY_NS = ArrayNamespace()


def masked_grad(xp: Any, g: Any, mask: Any) -> Any:
    """``xp.mul_const(g, mask)``; on arrays, written into ``g`` when the engine donated it
    (a node with ``_takes_grad``, whose rule reads ``g`` only here): bit for bit the same
    product, without a second full-size gradient alive."""
    if xp is ARRAY_NS and _donation.donated is g and g.shape == np.shape(mask):
        _donation.donated = None  # once
        return np.multiply(g, mask, g)
    return xp.mul_const(g, mask)


_tensor_ns: Any = None


def register_tensor_namespace(ns: Any) -> None:
    """Called by the tensor layer: the namespace used when the backward pass is recorded."""
    global _tensor_ns
    _tensor_ns = ns


class Op(Node):
    """One primitive operation: ``forward`` on arrays, ``backward`` written with ``xp``.

    ``saves`` lists the inputs (by position, or ``OUT`` for the result) that backward needs;
    the tensor layer stores them with their version so in-place changes are caught.
    ``backward(xp, grad, *saved)`` returns one gradient (or None) per input; a saved value
    skipped by ``saved_only_for`` arrives as None.
    """

    __slots__ = ("saved", "_versions")
    __init__ = object.__init__  # nodes are filled in only when recorded (see recording._record)
    is_view: ClassVar[bool] = False
    saves: ClassVar[tuple[int, ...]] = ()
    # A saved position listed here is kept only when that input's gradient is wanted
    # (e.g. ``a * b`` needs ``a`` only for ``b``'s gradient): less memory, fewer false
    # in-place errors.
    saved_only_for: ClassVar[dict[int, int]] = {}
    # What of the result backward keeps (default: the result itself). ReLU keeps only its
    # mask, so the full-size result can be freed as soon as the next layer is done with it;
    # the result's version is still checked, as torch does.
    pack_out: ClassVar[Callable[[np.ndarray], np.ndarray] | None] = None
    packed_name: ClassVar[str] = "result"  # how ``tapegrad graph`` names what was kept
    int_to_float: ClassVar[bool] = False  # integer inputs computed in float32 (true division)
    # ``saves`` paired with ``saved_only_for``: (position, input whose gradient needs it).
    _save_plan: ClassVar[tuple[tuple[int, int | None], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._save_plan = tuple((pos, cls.saved_only_for.get(pos)) for pos in cls.saves)
        # ``type(t.grad_fn).__name__`` is torch's node name too (MulBackward0, not Mul)
        cls.__name__ = cls.__qualname__ = cls.node_name

    def forward(self, *args: Any) -> np.ndarray:
        """Compute the result from input arrays (and keyword metadata)."""
        raise NotImplementedError

    def backward(self, xp: Any, grad: Any, *saved: Any) -> tuple[Any, ...]:
        """Return the gradient with respect to each input."""
        raise NotImplementedError

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each input: whether a gradient for it is wanted."""
        return tuple(node is not None for node, _ in self._edges)

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        saved = self._checked_saved()
        if not create_graph:
            return self.backward(ARRAY_NS, grad, *saved)
        saved = tuple(self._saved_tensor(pos, value) for pos, value in zip(self.saves, saved))
        return self.backward(_tensor_ns, grad, *saved)

    def _run_once(self, grad: Any) -> tuple[Any, ...]:
        if not self.saves:
            return self.backward(ARRAY_NS, grad)
        saved = self.saved  # ``_checked_saved``, inlined: this runs for every node
        if saved is None:
            raise RuntimeError(SECOND_BACKWARD)
        for ver in self._versions:
            if ver is not None and ver[0][0] != ver[1]:
                self._version_error()
        self.saved = None
        return self.backward(ARRAY_NS, grad, *saved)

    def _checked_saved(self) -> Any:
        """What was saved, after checking no saved tensor was modified in place since."""
        if not self.saves:
            return ()
        saved = self.saved
        if saved is None:
            raise RuntimeError(SECOND_BACKWARD)
        for ver in self._versions:
            if ver is not None and ver[0][0] != ver[1]:
                self._version_error()
        return saved

    def _version_error(self) -> None:
        for pos, value, ver in zip(self.saves, self.saved, self._versions):
            if ver is None:
                continue
            if pos == OUT:
                check_version(ver[0], ver[1], self._shape, self._dtype, self)
            else:
                # the public edges: a folded node (linear's transpose) names the producer,
                # whose dtype is the input's own (the op may have computed in a promoted one)
                producer, index = self.next_functions[pos]
                np_dtype = value.dtype if producer is None else producer._meta(index)[1]
                check_version(ver[0], ver[1], value.shape, np_dtype, producer, index)

    def _saved_tensor(self, pos: int, value: Any) -> Any:
        """A saved array as a Tensor connected to the graph (for recording backward)."""
        if not isinstance(value, np.ndarray):
            return value
        if pos == OUT:
            if self.pack_out is not None:
                return value  # derived from the result, not differentiated
            return _tensor_ns.from_edge(value, self, 0)
        node, index = self._edges[pos]
        if isinstance(node, AccumulateGrad) and node.variable is not None:
            return node.variable
        # a freed leaf's value still joins the recorded graph through its accumulator
        return _tensor_ns.from_edge(value, node, index)

    def _release(self) -> None:
        if self.saves:
            self.saved = None


class HoldingOp(Op):
    """An op whose backward needs arrays it keeps as attributes (``held``: max(dim)'s
    indices, an index key). They are freed after backward like saved tensors, so a second
    backward raises, as torch's does for its saved indices."""

    held: ClassVar[tuple[str, ...]] = ()

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        if getattr(self, self.held[0], None) is None:
            raise RuntimeError(SECOND_BACKWARD)
        return super()._run(grad, create_graph)

    def _run_once(self, grad: Any) -> tuple[Any, ...]:
        outputs = self._run(grad, False)
        self._release()
        return outputs

    def _release(self) -> None:
        super()._release()
        for name in self.held:
            setattr(self, name, None)
