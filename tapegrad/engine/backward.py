"""The backward pass: iterative, dependency-counted, with broadcast reduction at the edges.

Gradients live in a dict keyed by node until every consumer has contributed; they are added
out of place, so no array handed to a node is ever written into, with one exception: a large
gradient nobody else holds may be donated to a node that reads it once (``_run_donating``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from sys import getrefcount
from typing import Any

import numpy as np

from tapegrad._array import shape_str, sum_to
from tapegrad.engine import anomaly, grad_mode
from tapegrad.engine.node import AccumulateGrad, Edge, Node

# What ``autograd.trace`` watches the pass through: None except while a trace records (the
# fast path reads it once per pass and tests a local per node). Called with
# ``start(node, grad)`` before a node's hooks, ``ran(node, grad, outputs)`` after it,
# ``hook(node, kind, index, fn, seen, result)`` per hook and
# ``fitted(node, child, index, before, after)`` per gradient summed to its input's shape.
_observer: Any = None


class _Donation(threading.local):
    """The gradient the running node may write into (``donated``): set by the plain pass
    around a node whose incoming gradient nobody else holds (see ``ops.base.masked_grad``)."""

    donated: Any = None


_donation = _Donation()
# Only gradients at least this large are offered: a saving for big arrays, not worth the
# checks for small ones.
DONATE_MIN_SIZE = 1 << 16
# Python 3.14 lends references to values on its stack without counting them, so there a
# reference count no longer proves that nobody else holds an array: no donation.
COUNTS_PROVE_UNIQUE = sys.version_info < (3, 14)

try:  # numpy's own switch behind ``np.errstate``: entered once per pass, so kept cheap
    from numpy._core._ufunc_config import _extobj_contextvar
except ImportError:  # pragma: no cover - another numpy layout
    _extobj_contextvar = None
_ignoring: dict[Any, Any] = {}  # numpy's current error state -> the same with all ignored


def _ignore_errors() -> Any:
    """Enter ``np.errstate(all="ignore")``: numpy's same state, set at a fifth of the cost
    (passed once per backward pass); ``_restore_errors`` with the result leaves it."""
    if _extobj_contextvar is None:  # pragma: no cover
        state = np.errstate(all="ignore")
        state.__enter__()
        return state
    current = _extobj_contextvar.get()
    ignoring = _ignoring.get(current)
    if ignoring is None:
        with np.errstate(all="ignore"):
            ignoring = _extobj_contextvar.get()
        if len(_ignoring) >= 8:
            _ignoring.clear()
        _ignoring[current] = ignoring
    return _extobj_contextvar.set(ignoring)


def _restore_errors(token: Any) -> None:
    if _extobj_contextvar is None:  # pragma: no cover
        token.__exit__(None, None, None)
    else:
        _extobj_contextvar.reset(token)


def set_observer(observer: Any) -> Any:
    """Install ``observer`` (or None) for the backward passes that follow; returns the old one."""
    global _observer
    previous, _observer = _observer, observer
    return previous


def _count_dependencies(roots: Sequence[Node]) -> dict[Node, int]:
    """Number of edges into each node reachable from the roots (iterative DFS)."""
    deps: dict[Node, int] = {}
    stack = list(roots)
    root_set = set(roots)
    while stack:
        for child, _ in stack.pop()._edges:
            if child is None:
                continue
            if child in deps:
                deps[child] += 1
            else:
                deps[child] = 1
                if child not in root_set:
                    stack.append(child)
    return deps


def _fit(grad: Any, child: Node, index: int, parent: Node, outputs: Any, create_graph: bool) -> Any:
    """Reduce a gradient to the shape and dtype of the tensor it flows to."""
    shape, np_dtype = child._meta(index)
    if grad.shape != shape:
        original = grad
        try:
            grad = grad.sum_to_size(shape) if create_graph else sum_to(grad, shape)
        except (ValueError, RuntimeError):
            slot = next(i for i, g in enumerate(outputs) if g is grad)
            raise RuntimeError(
                f"Function {parent.name()} returned an invalid gradient at index {slot} - got "
                f"{shape_str(grad.shape)} but expected shape compatible with {shape_str(shape)}"
            ) from None
        if _observer is not None:
            _observer.fitted(parent, child, index, original, grad)
    if create_graph:
        if grad._data.dtype != np_dtype:
            grad = grad.to(np_dtype.name)
    elif grad.dtype != np_dtype:
        grad = grad.astype(np_dtype)
    return grad


def _add(buffers: dict[Node, Any], node: Node, index: int, grad: Any) -> None:
    """Accumulate ``grad`` for output ``index`` of ``node``, out of place."""
    if node._n_out == 1:
        old = buffers.get(node)
        buffers[node] = grad if old is None else old + grad
        return
    slots = buffers.setdefault(node, [None] * node._n_out)
    slots[index] = grad if slots[index] is None else slots[index] + grad


def _apply_pre_hooks(node: Node, grad: Any) -> Any:
    for index, hook in list(node._pre_hooks or ()):
        if node._n_out == 1 or index < 0:
            seen = grad
            result = hook(grad)
            grad = grad if result is None else result
        elif grad[index] is not None:
            seen = grad[index]
            result = hook(seen)
            if result is not None:
                grad[index] = result
        else:
            continue
        if _observer is not None:
            _observer.hook(node, "pre", index, hook, seen, result)
    return grad


def run_backward(
    roots: Sequence[Edge],
    grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Edge] | None = None,
) -> list[Any] | None:
    """Propagate ``grads`` from the ``roots`` edges back through the graph.

    Without ``inputs``: every leaf reached accumulates into ``.grad``. With ``inputs`` (the
    edges of the tensors given to ``autograd.grad``): nothing accumulates; the total gradient
    arriving at each of those edges is returned (None where none arrived).
    """
    buffers: dict[Node, Any] = {}
    if len(roots) == 1 and roots[0][0]._n_out == 1:  # ``loss.backward()``: ``_add``, inlined
        buffers[roots[0][0]] = grads[0]
    else:
        for (node, index), grad in zip(roots, grads):
            _add(buffers, node, index, grad)
    root_nodes = [roots[0][0]] if len(roots) == 1 else list(dict.fromkeys(n for n, _ in roots))
    deps = _count_dependencies(root_nodes)
    wanted = captured = None
    skip: Any = ()
    if inputs is not None:
        wanted = {node for node, _ in inputs}
        captured = {}
        skip = _skipped_nodes(root_nodes, wanted)
    ready = [n for n in root_nodes if n not in deps]
    slow = anomaly._state.enabled
    mode = grad_mode._state
    previous_mode, mode.enabled = mode.enabled, create_graph
    # inf/nan in gradients are the user's to see (anomaly mode checks them), not warnings
    token = _ignore_errors()
    try:
        if slow or create_graph or inputs is not None:
            _propagate_general(
                ready, buffers, deps, skip, wanted, captured, retain_graph, create_graph, slow
            )
        else:
            _propagate_plain(ready, buffers, deps, retain_graph)
    finally:
        _restore_errors(token)
        mode.enabled = previous_mode
    if inputs is None:
        return None
    return [_select(captured.get(node), node, index) for node, index in inputs]


def _propagate_plain(
    ready: list[Node], buffers: dict[Node, Any], deps: dict[Node, int], retain_graph: bool
) -> None:
    """``_propagate_general`` for the common case, kept lean: arrays only, no anomaly mode,
    no ``autograd.grad`` inputs. Nodes with hooks (or watched by a trace) go through ``_call``."""
    obs = _observer
    while ready:
        node = ready.pop()
        grad = buffers.pop(node, None)
        if grad is None:
            outputs: Any = ()
            if obs is not None:
                obs.start(node, None)
        elif node._pre_hooks is None and node._post_hooks is None and obs is None:
            if retain_graph:
                outputs = node._run(grad, False)
            elif node._takes_grad and type(grad) is np.ndarray and grad.size >= DONATE_MIN_SIZE:
                outputs = g = old = None  # they may still refer to ``grad``
                outputs = _run_donating(node, grad)
            else:
                outputs = node._run_once(grad)
        else:
            if obs is not None:
                obs.start(node, grad)
            if node._pre_hooks:
                grad = _apply_pre_hooks(node, grad)
            outputs = _call(node, grad, False, False)
            if not retain_graph:
                node._release()
            if obs is not None:
                obs.ran(node, grad, outputs)
        edges = node._edges
        if len(outputs) != len(edges):
            outputs = _one_per_edge(node, outputs)
        for (child, index), g in zip(edges, outputs):
            if child is None:
                continue
            remaining = deps[child] - 1
            if g is not None:
                if child._n_out != 1:
                    _add(buffers, child, index, _fit(g, child, index, node, outputs, False))
                else:
                    if g.shape != child._shape or (
                        g.dtype is not child._dtype and g.dtype != child._dtype
                    ):
                        g = _fit(g, child, index, node, outputs, False)
                    old = buffers.get(child)
                    if old is not None:
                        g = old + g
                    if (
                        remaining
                        or type(child) is not AccumulateGrad
                        or child._pre_hooks is not None
                        or child._post_hooks is not None
                    ):
                        buffers[child] = g
                    else:
                        # a leaf's whole gradient: accumulate now rather than through `ready`
                        if old is not None:
                            del buffers[child]
                        if obs is not None:
                            obs.start(child, g)
                        child._run(g, False)
                        if obs is not None:
                            obs.ran(child, g, ())
                        continue
            if remaining:
                deps[child] = remaining
            else:  # its count is never read again
                ready.append(child)


def _run_donating(node: Node, grad: np.ndarray) -> Any:
    """``node._run_once(grad)``, letting the node write its result into ``grad`` when no one
    else holds it (only this frame's caller and the refcount call refer to it, it owns its
    memory): a full-size temporary less on a large layer's backward."""
    if (
        COUNTS_PROVE_UNIQUE
        and getrefcount(grad) == 3
        and grad.base is None
        and grad.flags.writeable
    ):
        _donation.donated = grad
        try:
            return node._run_once(grad)
        finally:
            _donation.donated = None
    return node._run_once(grad)


def _propagate_general(
    ready: list[Node],
    buffers: dict[Node, Any],
    deps: dict[Node, int],
    skip: Any,
    wanted: set[Node] | None,
    captured: dict[Node, Any] | None,
    retain_graph: bool,
    create_graph: bool,
    slow: bool,
) -> None:
    """Run ready nodes until none is left (a node is ready once all its consumers have run),
    in every case: hooks, ``autograd.grad`` capture and skipping, anomaly checks, and
    recording the backward pass itself (``create_graph``)."""
    obs = _observer
    while ready:
        node = ready.pop()
        grad = buffers.pop(node, None)
        outputs: Any = ()
        if obs is not None and node not in skip:
            obs.start(node, grad)
        if grad is not None:
            outputs = _run_node(node, grad, skip, wanted, captured, create_graph, slow)
            if outputs is None:  # skipped
                outputs = ()
            elif not retain_graph:
                node._release()
            if obs is not None and node not in skip:
                obs.ran(node, grad, outputs)
        outputs = _one_per_edge(node, outputs)
        for (child, index), g in zip(node._edges, outputs):
            if child is None:
                continue
            if g is not None:
                _add(buffers, child, index, _fit(g, child, index, node, outputs, create_graph))
            remaining = deps[child] - 1
            deps[child] = remaining
            if not remaining:
                ready.append(child)


def _one_per_edge(node: Node, outputs: Any) -> Any:
    """A gradient (or None) for each of ``node``'s edges: None past a shorter ``outputs``
    (a node given no gradient still lets its children's dependency counts drop)."""
    n = len(node._edges)
    return outputs if len(outputs) == n else (*outputs, *(None,) * (n - len(outputs)))


def _run_node(
    node: Node,
    grad: Any,
    skip: Any,
    wanted: set[Node] | None,
    captured: dict[Node, Any] | None,
    create_graph: bool,
    slow: bool,
) -> tuple[Any, ...] | None:
    """One node on the general path: hooks, ``autograd.grad`` capture, anomaly checks.
    None when the node is skipped (``autograd.grad`` does not need it)."""
    if node._pre_hooks:
        grad = _apply_pre_hooks(node, grad)
    if wanted is not None and node in wanted:
        captured[node] = grad  # type: ignore[index]
    if node in skip:
        return None
    if slow or node._post_hooks:
        return _call(node, grad, create_graph, slow)
    return node._run(grad, create_graph)


def _skipped_nodes(roots: Sequence[Node], wanted: set[Node]) -> set[Node]:
    """For ``autograd.grad``: nodes that need not run (no wanted edge below them), and the
    leaves' accumulators (nothing accumulates into ``.grad``)."""
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    seen: set[Node] = set()
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((c, False) for c, _ in node._edges if c is not None)
    reach: set[Node] = set(wanted)
    skip: set[Node] = set()
    for node in order:  # children come before parents
        if any(c in reach for c, _ in node._edges) and not isinstance(node, AccumulateGrad):
            reach.add(node)
        else:
            skip.add(node)
    return skip


def _call(node: Node, grad: Any, create_graph: bool, check: bool) -> tuple[Any, ...]:
    """Run one node's backward, with post hooks and anomaly checks."""
    try:
        outputs = node._run_unfolded(grad, create_graph)
    except Exception as exc:
        if check:
            anomaly.annotate(node, exc)
        raise
    if check:
        anomaly.check_outputs(node, outputs)
    if node._post_hooks:
        outputs = _validated(node, outputs, create_graph)
        for hook in list(node._post_hooks):
            replaced = hook(outputs, grad)
            if _observer is not None:
                _observer.hook(node, "post", -1, hook, outputs, replaced)
            if replaced is not None:
                outputs = replaced
    return node._refold(outputs, create_graph)


def _validated(node: Node, outputs: Any, create_graph: bool) -> tuple[Any, ...]:
    """The gradients as torch's post hooks see them: one per input, reduced to its shape and
    dtype (torch validates them before the hooks run), None where no gradient is needed."""
    edges = node.next_functions
    outputs = _one_per_edge(node, outputs)
    return tuple(
        (g if node._shows_unneeded_grads else None)
        if g is None or child is None
        else _fit(g, child, index, node, outputs, create_graph)
        for (child, index), g in zip(edges, outputs)
    )


def run_folded(node: Node, grad: Any, create_graph: bool) -> Any:
    """Run ``node`` as the engine would (pre hooks, backward, post hooks, anomaly checks) for
    the consumer that folded it in and so stands in for it in the walked graph (linear's
    ``TBackward0``, see ``ops.linalg.LinearAddmm``); returns its one input gradient."""
    if node._pre_hooks:
        grad = _apply_pre_hooks(node, grad)
    return _call(node, grad, create_graph, anomaly._state.enabled)[0]


def _select(grad: Any, node: Node, index: int) -> Any:
    if grad is None or node._n_out == 1:
        return grad
    return grad[index]
