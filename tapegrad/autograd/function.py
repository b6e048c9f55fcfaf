"""User-defined differentiable operations (``tapegrad.autograd.Function``), as torch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.engine import grad_mode
from tapegrad.engine.node import (  # noqa: F401 - torch.autograd.function has these names too
    SECOND_BACKWARD,
    AccumulateGrad,
    Node,
    check_version,
)
from tapegrad.recording import _edge_of
from tapegrad.tensor import Tensor, _wrap

# --------------------------------------------------------------------------- custom Functions


class FunctionCtx:
    """The ``ctx`` of a user-defined Function: what forward leaves for backward."""

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors for backward; they are checked for in-place changes when read back."""
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else (t._vc, t._vc[0]) for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The tensors given to ``save_for_backward``, or an error if they were freed."""
        if getattr(self, "_released", False):
            raise RuntimeError(SECOND_BACKWARD)
        saved = getattr(self, "_saved", ())
        for t, ver in zip(saved, self._saved_versions):
            if ver is not None:
                check_version(ver[0], ver[1], t.shape, t._data.dtype, t.grad_fn, t._output_nr)
        return saved

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """Declare outputs that get no gradient (e.g. indices)."""
        self._non_differentiable = {id(t) for t in tensors}


class BackwardCFunction(Node, FunctionCtx):
    """Node created by ``Function.apply``: it is also the ``ctx`` passed to forward/backward."""

    __slots__ = ()
    _function: type[Function]
    _shows_unneeded_grads = True

    def name(self) -> str:
        return type(self).__name__

    def _meta(self, index: int) -> tuple[tuple[int, ...], np.dtype]:
        return self._out_meta[index]

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        grads = grad if self._n_out > 1 else (grad,)
        grads = tuple(
            (g if create_graph else _wrap(np.asarray(g)))
            if g is not None
            else _wrap(np.zeros(*self._out_meta[i]))
            for i, g in enumerate(grads)
        )
        with grad_mode.set_grad_enabled(create_graph):
            result = self._function.backward(self, *grads)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != self._n_args:
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients "
                f"(expected {self._n_args}, got {len(result)})"
            )
        # one gradient per forward argument; the graph has edges for the Tensor ones only
        result = tuple(result[i] for i in self._tensor_positions)
        if create_graph:
            return result
        return tuple(r._data if isinstance(r, Tensor) else r for r in result)

    def _release(self) -> None:
        self._saved = ()
        self._released = True


class Function:
    """Base class for user-defined differentiable operations, as ``torch.autograd.Function``.

    Subclasses define ``forward(ctx, *args)`` (runs without recording, on Tensors) and
    ``backward(ctx, *grad_outputs)`` returning one gradient (or None) per forward argument.
    Call ``MyFunction.apply(*args)``.
    """

    _node_class: type[BackwardCFunction] | None = None

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """Compute the output(s) from the inputs."""
        raise NotImplementedError("subclasses of Function must implement forward(ctx, ...)")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        """Return the gradient with respect to each input of forward."""
        raise NotImplementedError("subclasses of Function must implement backward(ctx, ...)")

    @classmethod
    def _node_type(cls) -> type[BackwardCFunction]:
        if cls.__dict__.get("_node_class") is None:
            cls._node_class = type(cls.__name__ + "Backward", (BackwardCFunction,), {})
            cls._node_class._function = cls
        return cls._node_class

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward and, when any input requires grad, record a node for backward."""
        node = cls._node_type()()
        Node.__init__(node)
        tensors = [a for a in args if isinstance(a, Tensor)]
        node.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with grad_mode.no_grad():
            raw = cls.forward(node, *args, **kwargs)
        record = grad_mode.is_grad_enabled() and any(t.requires_grad for t in tensors)
        outputs = raw if isinstance(raw, tuple) else (raw,)
        skip = getattr(node, "_non_differentiable", set())
        # as torch: edges (next_functions) for the Tensor arguments only
        node._n_args = len(args)
        node._tensor_positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        node._edges = tuple(_edge_of(args[i]) for i in node._tensor_positions)
        node._n_out = len(outputs)
        node._out_meta = [(o._data.shape, o._data.dtype) for o in outputs]
        node._shape, node._dtype = node._out_meta[0]
        wrapped = []
        for i, out in enumerate(outputs):
            if not isinstance(out, Tensor):
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got {type(out)}")
            grad_fn = node if record and id(out) not in skip else None
            wrapped.append(_wrap(out._data, grad_fn, i, vc=out._vc))
        return tuple(wrapped) if isinstance(raw, tuple) else wrapped[0]
