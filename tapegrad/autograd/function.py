"""User-defined differentiable operations (``tapegrad.autograd.Function``), as torch's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.engine import grad_mode
from tapegrad.engine.node import (  # noqa: F401 - torch.autograd.function has these names too
    SECOND_BACKWARD,
    AccumulateGrad,
    Node,
    check_version,
)
from tapegrad.inplace import _changed_by
from tapegrad.recording import _edge_of
from tapegrad.tensor import Tensor, _wrap

DIRTY_NOT_RETURNED = (
    "Some elements marked as dirty during the forward method were not returned as output. The "
    "inputs that are modified inplace must all be outputs of the Function."
)
DIRTY_LEAF = "a leaf Variable that requires grad has been used in an in-place operation."
ONCE_DIFFERENTIABLE = (
    "trying to differentiate twice a function that was marked with @once_differentiable"
)

# --------------------------------------------------------------------------- custom Functions


class FunctionCtx:
    """The ``ctx`` of a user-defined Function: what forward leaves for backward."""

    _materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors for backward; they are checked for in-place changes when read back."""
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else (t._vc, t._vc[0]) for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The tensors given to ``save_for_backward`` (a saved output as the output, in the
        graph), after checking none was changed in place since; an error once freed."""
        if getattr(self, "_released", False):
            raise RuntimeError(SECOND_BACKWARD)
        saved = getattr(self, "_saved", ())
        outputs = getattr(self, "_saved_outputs", {})
        result = []
        for i, (t, ver) in enumerate(zip(saved, self._saved_versions)):
            if i in outputs:  # named by its node, as torch names a saved output
                t = _wrap(t._data, self, outputs[i], t._vc)
            if ver is not None:
                check_version(ver[0], ver[1], t.shape, t._data.dtype, t.grad_fn, t._output_nr)
            result.append(t)
        return tuple(result)

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """Declare outputs that get no gradient (e.g. indices)."""
        self._non_differentiable = {id(t) for t in tensors}

    def mark_dirty(self, *tensors: Any) -> None:
        """Declare inputs that forward changed in place (and returns): their history
        becomes this Function's node, as for torch's in-place ops."""
        self._dirty = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """Whether backward gets zeros (True, the default) or None for outputs that received
        no gradient."""
        self._materialize_grads = bool(value)


class BackwardCFunction(Node, FunctionCtx):
    """Node created by ``Function.apply``: it is also the ``ctx`` passed to forward/backward."""

    __slots__ = ()
    _function: type[Function]
    _shows_unneeded_grads = True

    def name(self) -> str:
        return type(self).__name__

    def _meta(self, index: int) -> tuple[tuple[int, ...], np.dtype]:
        return self._out_meta[index]

    def __call__(self, *args: Any) -> Any:
        # torch's Function nodes are not callable (their ``apply`` runs backward)
        raise TypeError(f"'{self.name()}' object is not callable")

    def apply(self, *grad_outputs: Any) -> Any:
        """Run the Function's backward on ``grad_outputs`` as given (torch's ``ctx.apply``)."""
        return self._function.backward(self, *grad_outputs)

    def _run(self, grad: Any, create_graph: bool) -> tuple[Any, ...]:
        grads = grad if self._n_out > 1 else (grad,)
        grads = tuple(self._grad_output(i, g, create_graph) for i, g in enumerate(grads))
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

    def _grad_output(self, i: int, g: Any, create_graph: bool) -> Any:
        """One output's gradient as backward receives it: a Tensor; zeros (or None, after
        ``set_materialize_grads(False)``) when none arrived."""
        if g is None:
            return _wrap(np.zeros(*self._out_meta[i])) if self._materialize_grads else None
        return g if create_graph else _wrap(np.asarray(g))

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
        for out in outputs:
            if not isinstance(out, Tensor):
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got {type(out)}")
        # as torch: edges (next_functions) for the Tensor arguments only
        node._n_args = len(args)
        node._tensor_positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        node._edges = tuple(_edge_of(args[i]) for i in node._tensor_positions)
        node._n_out = len(outputs)
        node._out_meta = [(o._data.shape, o._data.dtype) for o in outputs]
        node._shape, node._dtype = node._out_meta[0]
        wrapped = _outputs(node, outputs, record, {id(a) for a in tensors})
        return wrapped if isinstance(raw, tuple) else wrapped[0]


def _outputs(
    node: BackwardCFunction, outputs: tuple[Tensor, ...], record: bool, inputs: set[int]
) -> tuple[Tensor, ...]:
    """The Tensors ``apply`` returns: new ones on the node; an input marked dirty is
    returned itself, rebased on the node; a tensor returned twice is one object (the last
    output it stands for, as torch)."""
    skip = getattr(node, "_non_differentiable", set())
    dirty = getattr(node, "_dirty", set())
    returned = {id(o) for o in outputs}
    if dirty - returned:
        raise RuntimeError(DIRTY_NOT_RETURNED)
    last = {id(o): i for i, o in enumerate(outputs)}
    made: dict[int, Tensor] = {}
    for i, out in enumerate(outputs):
        if last[id(out)] != i:
            continue
        differentiable = record and id(out) not in skip
        if id(out) in dirty and id(out) in inputs:
            made[id(out)] = _dirty_output(node, out, i, differentiable)
        else:
            made[id(out)] = _wrap(out._data, node if differentiable else None, i, vc=out._vc)
    _note_saved_outputs(node, outputs, made, record)
    return tuple(made[id(o)] for o in outputs)


def _dirty_output(node: BackwardCFunction, t: Tensor, i: int, differentiable: bool) -> Tensor:
    """An input changed in place by forward: its history is now the node (CopySlices on its
    base for a view); the version counts the change once more, as torch."""
    if not differentiable:
        t._vc[0] += 1
        return t
    if t.grad_fn is None and t._requires_grad:
        raise RuntimeError(DIRTY_LEAF)
    _changed_by(t, node, i)
    return t


def _note_saved_outputs(
    node: BackwardCFunction, outputs: tuple[Tensor, ...], made: dict[int, Tensor], record: bool
) -> None:
    """A saved output is given back as the output (with the node as grad_fn)."""
    saved = getattr(node, "_saved", ())
    if not record or not saved:
        return
    where = {id(o): i for i, o in enumerate(outputs) if made[id(o)].grad_fn is node}
    node._saved_outputs = {k: where[id(t)] for k, t in enumerate(saved) if id(t) in where}


def once_differentiable(
    fn: Callable[..., Any],
) -> Callable[..., Any]:
    """Decorate a Function's ``backward`` that cannot itself be differentiated: it runs
    without recording, and differentiating its result raises torch's error."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        with grad_mode.no_grad():
            outputs = fn(ctx, *args)
        if not grad_mode.is_grad_enabled():
            return outputs
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return outputs
        single = not isinstance(outputs, tuple)
        items = (outputs,) if single else outputs
        present = [o for o in items if o is not None]
        # detached copies that require grad, so the Error node is recorded on them
        marked = iter(Error.apply(*(o.detach().requires_grad_() for o in present)))
        result = tuple(None if o is None else next(marked) for o in items)
        return result[0] if single else result

    return wrapper


class Error(Function):
    """What a ``once_differentiable`` backward's results come out of: differentiating
    them raises (torch's ``DelayedError``, whose node is named ``Error``)."""

    @staticmethod
    def forward(ctx: Any, *tensors: Tensor) -> Any:
        """The tensors themselves."""
        return tensors

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        """Always an error."""
        raise RuntimeError(ONCE_DIFFERENTIABLE)


Error._node_class = type("Error", (BackwardCFunction,), {"_function": Error})
