"""Graph nodes (``grad_fn`` objects) and the leaf accumulator.

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

from tapegrad._array import shape_str
from tapegrad.engine import anomaly, grad_mode

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
    # The plain backward pass may let this node's backward write its result into the
    # incoming gradient (``engine.backward._donation``): nodes whose rule reads it once.
    _takes_grad = False

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

    def _repr_svg_(self) -> str | None:
        """The graph below this node as SVG, for notebooks (None: show as text)."""
        return None if _display.svg is None else _display.svg(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) if _display.text is None else _display.text(self))

    def _meta(self, index: int) -> tuple[tuple[int, ...], np.dtype]:
        return self._shape, self._dtype

    def __call__(self, *grads: Any) -> Any:
        """Run this node's backward on ``grads`` (one per output), as torch's ``Node.__call__``:
        the gradient for each of ``next_functions`` (a tuple, unless there is exactly one),
        None where no gradient is needed; recorded when grad mode is on."""
        if len(grads) != self._n_out:
            raise TypeError(f"expected {self._n_out} arguments, got {len(grads)} instead")
        create_graph = grad_mode.is_grad_enabled()
        tensor, wrap = _adapter.tensor_type, _adapter.wrap
        if create_graph:
            grads = tuple(
                g if g is None or isinstance(g, tensor) else wrap(np.asarray(g)) for g in grads
            )
        else:
            grads = tuple(None if g is None else np.asarray(g) for g in grads)
        outputs = self._run_unfolded(grads[0] if self._n_out == 1 else list(grads), create_graph)
        edges = self.next_functions
        outputs = (*outputs, *(None,) * (len(edges) - len(outputs)))
        if not self._shows_unneeded_grads:
            outputs = tuple(None if child is None else g for (child, _), g in zip(edges, outputs))
        result = _as_tensors(outputs)
        return result[0] if len(edges) == 1 else result

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


class _TensorAdapter:
    """How the core turns arrays into Tensors for user hooks: handed down by the tensor
    layer (``register_tensor_adapter``), since the core cannot import it."""

    tensor_type: type = type(None)
    wrap: Callable[[np.ndarray], Any] = staticmethod(lambda array: array)


_adapter = _TensorAdapter()


def register_tensor_adapter(tensor_type: type, wrap: Callable[[np.ndarray], Any]) -> None:
    """Called by the tensor layer: the Tensor class and how to wrap an array in one."""
    _adapter.tensor_type = tensor_type
    _adapter.wrap = wrap


class _Display:
    """How a node shows in a notebook: handed down by ``autograd.graph_draw``
    (``register_display``), since the core cannot import it."""

    svg: Callable[[Node], str | None] | None = None
    text: Callable[[Node], str] | None = None


_display = _Display()


def register_display(svg: Callable[[Node], str | None], text: Callable[[Node], str]) -> None:
    """Called by the autograd layer: a node's SVG picture and its text form for notebooks."""
    _display.svg = staticmethod(svg)  # type: ignore[assignment]
    _display.text = staticmethod(text)  # type: ignore[assignment]


def _as_tensors(grads: Any) -> tuple[Any, ...]:
    """Engine gradients (arrays, or Tensors when recording) as Tensors, for user hooks."""
    tensor, wrap = _adapter.tensor_type, _adapter.wrap
    return tuple(g if g is None or isinstance(g, tensor) else wrap(np.asarray(g)) for g in grads)


def _like(result: Any, originals: Any) -> tuple[Any, ...]:
    """A hook's returned Tensors in the engine's representation (arrays on the fast path)."""
    Tensor = _adapter.tensor_type  # noqa: N806
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
