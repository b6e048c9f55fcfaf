"""Graph nodes (``grad_fn`` objects), the leaf accumulator, and user-defined Functions.

A Node is what ``tensor.grad_fn`` returns. The engine sees only this protocol:
``_edges`` (one ``(node, index)`` edge per input, ``(None, 0)`` when that input needs
no gradient: what ``next_functions`` shows, except where a node folds another one in),
``_meta(i)`` (shape and numpy dtype of output ``i``), ``_run(grad, create_graph)``
(gradients for each input), ``_release()`` and the hook lists. A node that folds another in
also splits ``_run`` into ``_run_unfolded`` (the gradients for ``next_functions``, which post
hooks see) and ``_refold`` (those turned into gradients for ``_edges``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.autograd import anomaly, grad_mode

Edge = tuple["Node | None", int]
Hook = Callable[[Any], Any]

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)
INPLACE_HINT = (
    "Hint: enable anomaly detection to find the operation that failed to compute its "
    "gradient, with tapegrad.autograd.set_detect_anomaly(True, check_nan=False)."
)
INPLACE_HINT_ANOMALY = (
    "Hint: the backtrace further above shows the operation that failed to compute its "
    "gradient. The variable in question was changed in there or anywhere later. Good luck!"
)


class Node:
    """A recorded operation: knows how to turn the gradient of its output into input gradients."""

    # Hooks and the anomaly trace are rare: class defaults, set per node only when used.
    __slots__ = ("_edges", "_shape", "_dtype", "__dict__", "__weakref__")
    _pre_hooks: list[tuple[int, Hook]] | None = None
    _post_hooks: list[Callable[..., Any]] | None = None
    _trace: str | None = None
    _n_out = 1
    node_name = "Node"
    # Built-in backward functions compute only the gradients their inputs need, so post hooks
    # see None for the others; a custom Function's backward returns what it returns.
    _shows_unneeded_grads = False

    def __init__(self) -> None:
        self._edges: tuple[Edge, ...] = ()

    @property
    def next_functions(self) -> tuple[Edge, ...]:
        """One ``(node, output index)`` edge per input, ``(None, 0)`` where none is needed."""
        return self._edges

    def name(self) -> str:
        """The PyTorch name of this node, e.g. ``MulBackward0``."""
        return self.node_name

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    def _meta(self, index: int) -> tuple[tuple[int, ...], np.dtype]:
        return self._shape, self._dtype

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        raise NotImplementedError

    def _run_once(self, grad: Any) -> tuple[Any, ...]:
        """``_run`` then ``_release``: the engine's common case (no retain_graph)."""
        outputs = self._run(grad, False)
        self._release()
        return outputs

    def _run_unfolded(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        """The gradients for ``next_functions`` (what post hooks see); ``_refold`` turns them
        into the gradients for ``_edges``. The same as ``_run`` unless a node is folded in."""
        return self._run(grad, create_graph)

    def _refold(self, outputs: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
        """See ``_run_unfolded``."""
        return outputs

    def _release(self) -> None:
        """Free what was saved for backward (called after backward unless retain_graph)."""

    def register_hook(self, fn: Callable[..., Any]) -> _RemovableHandle:
        """Call ``fn(grad_inputs, grad_outputs)`` (tuples of Tensors) after this node runs;
        it may return replacement ``grad_inputs``. PyTorch's post hook."""

        def call(grad_inputs: tuple[Any, ...], grad: Any) -> Any:
            outs = grad if self._n_out > 1 else (grad,)
            result = fn(_as_tensors(grad_inputs), _as_tensors(outs))
            return None if result is None else _like(result, grad_inputs)

        if self._post_hooks is None:
            self._post_hooks = []
        return _RemovableHandle(self._post_hooks, call)

    def register_prehook(self, fn: Callable[..., Any]) -> _RemovableHandle:
        """Call ``fn(grad_outputs)`` (a tuple of Tensors) before this node runs; it may
        return replacement ``grad_outputs``."""

        def call(grad: Any) -> Any:
            outs = tuple(grad) if self._n_out > 1 else (grad,)
            result = fn(_as_tensors(outs))
            if result is None:
                return None
            result = _like(result, outs)
            return list(result) if self._n_out > 1 else result[0]

        if self._pre_hooks is None:
            self._pre_hooks = []
        return _RemovableHandle(self._pre_hooks, (-1, call))


def _as_tensors(grads: Any) -> tuple[Any, ...]:
    """Engine gradients (arrays, or Tensors when recording) as Tensors, for user hooks."""
    from tapegrad.tensor import Tensor, _wrap

    return tuple(g if g is None or isinstance(g, Tensor) else _wrap(np.asarray(g)) for g in grads)


def _like(result: Any, originals: Any) -> tuple[Any, ...]:
    """A hook's returned Tensors in the engine's representation (arrays on the fast path)."""
    from tapegrad.tensor import Tensor

    recording = any(isinstance(g, Tensor) for g in originals if g is not None)
    result = tuple(result) if isinstance(result, list | tuple) else (result,)
    return tuple(r._data if isinstance(r, Tensor) and not recording else r for r in result)


class _RemovableHandle:
    """Handle returned by ``register_hook``: ``remove()`` takes the hook out again."""

    __slots__ = ("_hooks", "_item")

    def __init__(self, hooks: list[Any], item: Any) -> None:
        self._hooks = hooks
        self._item = item
        hooks.append(item)

    def remove(self) -> None:
        """Remove the hook; removing twice is harmless."""
        if self._item in self._hooks:
            self._hooks.remove(self._item)


class AccumulateGrad(Node):
    """The node standing for a leaf tensor: adds the incoming gradient into ``leaf.grad``.

    The leaf keeps its accumulator for its whole life, so recording an op on a leaf does not
    build a new one each time; the accumulator refers to the leaf weakly, so the pair is not
    a reference cycle. Once the leaf is gone nobody can read its ``.grad``: the accumulator
    then only runs the leaf's hooks, and ``variable`` is None.
    """

    __slots__ = ("_variable",)
    node_name = "AccumulateGrad"
    saves = ()

    def __init__(self, variable: Any) -> None:
        self._edges = ()
        self._variable = weakref.ref(variable)
        # Fixed when the graph is built, as torch does: the engine reduces gradients to them.
        self._shape = variable._data.shape
        self._dtype = variable._data.dtype

    @property
    def variable(self) -> Any:
        """The leaf tensor this node accumulates into (None once it has been freed)."""
        return self._variable()

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        variable = self._variable()
        if variable is not None:
            variable._accumulate_grad(grad, create_graph)
        return ()


def check_version(
    counter: list[int],
    expected: int,
    shape: tuple[int, ...],
    np_dtype: np.dtype,
    producer: Node | None,
    output_nr: int = 0,
) -> None:
    """Raise PyTorch's in-place modification error when a saved tensor changed since saved."""
    if counter[0] == expected:
        return
    from tapegrad._array import shape_str

    where = (
        ""
        if producer is None or isinstance(producer, AccumulateGrad)
        else f", which is output {output_nr} of {op_name(producer)},"
    )
    hint = INPLACE_HINT_ANOMALY if anomaly.is_anomaly_enabled() else INPLACE_HINT
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [tapegrad.{np_dtype.name} {shape_str(shape)}]{where} is at version "
        f"{counter[0]}; expected version {expected} instead. {hint}"
    )


def op_name(node: Node) -> str:
    """How torch's in-place error names a node: without "Backward", nor an overload 0
    (``MulBackward0`` -> ``Mul``, ``SumBackward1`` -> ``Sum1``, ``FBackward`` -> ``F``)."""
    name = node.name()
    if name.endswith("Backward0"):
        return name[: -len("Backward0")]
    return name.replace("Backward", "")


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
        from tapegrad.tensor import Tensor, _wrap

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
        from tapegrad.tensor import Tensor, _edge_of, _wrap

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
