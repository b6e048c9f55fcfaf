"""``backward()`` and ``grad()``: check the outputs and their seed gradients, then run the
engine from them. As ``torch.autograd.backward`` and ``torch.autograd.grad``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.engine.backward import run_backward
from tapegrad.recording import _edge_of
from tapegrad.tensor import Tensor, _wrap, register_backward


def _as_tuple(x: Any) -> tuple[Any, ...]:
    """A Tensor, or a sequence of them, as a tuple (torch iterates anything else)."""
    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    if not isinstance(x, list | tuple):
        raise TypeError(f"'{type(x).__name__}' object is not iterable")
    return tuple(x)


def _root_grads(outputs: tuple[Any, ...], grads: tuple[Any, ...], create_graph: bool) -> list[Any]:
    """Check outputs and their seed gradients; return the seeds as arrays (or Tensors)."""
    for g in grads:  # torch checks the kinds before the count
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
    if grads and len(grads) != len(outputs):
        raise RuntimeError(
            f"grad_tensors should have the same length as tensors ({len(grads)} != {len(outputs)})"
        )
    seeds = []
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        g = grads[i] if grads else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = _wrap(np.ones(out.shape, out._data.dtype))
        if g.shape != out.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {list(g.shape)} and "
                f"output[{i}] has a shape of {list(out.shape)}."
            )
        if g._data.dtype != out._data.dtype:
            g = (
                g.to(out._data.dtype.name)
                if create_graph
                else _wrap(g._data.astype(out._data.dtype))
            )
        seeds.append(g if create_graph else g._data)
    return seeds


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Accumulate into ``.grad`` of the leaves the gradient of ``tensors`` (seeded by
    ``grad_tensors``). As ``torch.autograd.backward``."""
    outputs = _as_tuple(tensors)
    seeds = _root_grads(outputs, _as_tuple(grad_tensors), create_graph)
    retain = create_graph if retain_graph is None else retain_graph
    run_backward([_edge_of(t) for t in outputs], seeds, retain, create_graph)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Any, ...]:
    """Return the gradients of ``outputs`` with respect to ``inputs`` (nothing accumulates
    into ``.grad``). As ``torch.autograd.grad``; ``create_graph=True`` makes them
    differentiable."""
    if allow_unused is False and materialize_grads:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but "
            "got: allow_unused=False."
        )
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    if not ins:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    seeds = _root_grads(outs, _as_tuple(grad_outputs), create_graph)  # torch checks these first
    for t in ins:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    found = (
        run_backward(
            [_edge_of(t) for t in outs],
            seeds,
            retain,
            create_graph,
            inputs=[_edge_of(t) for t in ins],
        )
        or []
    )
    allow_unused = allow_unused or materialize_grads
    result = []
    for index, (t, g) in enumerate(zip(ins, found)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {index} appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
            result.append(_wrap(np.zeros(t.shape, t._data.dtype)) if materialize_grads else None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            result.append(_wrap(np.array(g, dtype=t._data.dtype)))
    return tuple(result)


register_backward(backward)  # what Tensor.backward runs beyond its common case
