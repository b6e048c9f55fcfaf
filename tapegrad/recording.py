"""Recording: running an op's forward on arrays and, when grad mode is on and an input
requires grad, making the op the ``grad_fn`` of its result, with what backward needs saved.

Ops follow a small protocol, ``RecordedOp`` (``tapegrad.ops.base.Op`` implements it).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from tapegrad.engine import anomaly, grad_mode
from tapegrad.engine.node import AccumulateGrad, Node, op_name
from tapegrad.tensor import Tensor, _new_tensor, _wrap

_grad_state = grad_mode._state
_anomaly_state = anomaly._state
_NO_EDGE = (None, 0)
OUT = -1  # position of the op's own result in ``Op.saves``


class RecordedOp(Protocol):
    """What recording needs of an op: a graph node (``engine.node.Node``) with a forward pass
    on arrays and a plan of what to save for backward."""

    _edges: tuple[tuple[Node | None, int], ...]
    _shape: tuple[int, ...]
    _dtype: np.dtype
    _trace: str | None
    saves: ClassVar[tuple[int, ...]]
    _save_plan: ClassVar[tuple[tuple[int, int | None], ...]]
    pack_out: ClassVar[Any]
    is_view: ClassVar[bool]
    saved: Any
    _versions: Any

    def forward(self, *args: Any, **meta: Any) -> Any:
        """The result, from input arrays (and keyword metadata)."""


def _edge_of(t: Any) -> tuple[Node | None, int]:
    """The graph edge an input contributes: its grad_fn, its accumulator, or none."""
    if not isinstance(t, Tensor) or not t._requires_grad:
        return _NO_EDGE
    if t.grad_fn is not None:
        return t.grad_fn, t._output_nr
    return _leaf_edge(t)


def _leaf_edge(t: Tensor) -> tuple[Node, int]:
    """The edge to a leaf's AccumulateGrad: made on first use and kept by the leaf, so every
    graph reuses it; made again if ``.data`` was replaced by one of another shape or dtype."""
    acc = t._acc
    if acc is None or acc._shape != t._data.shape or acc._dtype != t._data.dtype:
        acc = AccumulateGrad(t)
        if t._hooks is not None:
            acc._pre_hooks = t._hooks
        t._acc = acc
    return acc, 0


def _run_op(op: RecordedOp, inputs: Sequence[Any], arrays: Sequence[Any], **meta: Any) -> Tensor:
    """Run ``op.forward`` on arrays; record it when grad mode is on and an input needs grad."""
    return _finish(op, inputs, arrays, op.forward(*arrays, **meta))


def _finish(op: RecordedOp, inputs: Sequence[Any], arrays: Sequence[Any], out: Any) -> Tensor:
    """Wrap an op's result; record the op when grad mode is on and an input needs grad."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if _grad_state.enabled:
        for t in inputs:
            if isinstance(t, Tensor) and t._requires_grad:
                return _record(op, inputs, arrays, out)
    if op.is_view:
        base = inputs[0]
        result = _wrap(out, None, 0, base._vc)
        result._is_view = True
        result.__dict__["_base"] = base  # an in-place change of the view reaches the base
        if base._requires_grad:  # so this ran under no_grad
            result._no_grad_view_of_grad = True
        elif base._no_grad_view_of_grad:  # a view of such a view: torch names this op
            result._no_grad_view_of_grad = op_name(op)
        return result
    return _wrap(out)


def _record(
    op: RecordedOp, inputs: Sequence[Any], arrays: Sequence[Any], out: np.ndarray
) -> Tensor:
    """Make ``op`` the grad_fn of a new tensor holding ``out``, saving what backward needs."""
    edges = []
    for t in inputs:  # _edge_of, inlined: this loop runs for every recorded op
        if not isinstance(t, Tensor) or not t._requires_grad:
            edges.append(_NO_EDGE)
        elif t.grad_fn is not None:
            edges.append((t.grad_fn, t._output_nr))
        else:  # _leaf_edge, its common case inlined
            acc, data = t._acc, t._data
            if (
                acc is None
                or acc._shape != data.shape
                or (acc._dtype is not data.dtype and acc._dtype != data.dtype)
            ):
                acc = _leaf_edge(t)[0]
            edges.append((acc, 0))
    op._edges = edges = tuple(edges)
    op._shape = out.shape
    op._dtype = out.dtype
    if _anomaly_state.enabled:
        op._trace = anomaly.forward_trace()
    vc = inputs[0]._vc if op.is_view else [0]
    if op.saves:
        _save(op, inputs, arrays, out, vc, edges)
    result = _new_tensor(Tensor)
    result._data = out
    result._requires_grad = True
    result.grad_fn = op
    result._output_nr = 0
    result._vc = vc
    if op.is_view:
        result._is_view = True
        base = inputs[0]
        if base.grad_fn is not None:  # only a non-leaf can change in place while recorded
            _keep_view(base, result)
        else:  # a leaf's view only needs its base (for the view-of-a-leaf error)
            result.__dict__["_base"] = base
    return result


def _save(
    op: RecordedOp,
    inputs: Sequence[Any],
    arrays: Sequence[Any],
    out: np.ndarray,
    vc: list[int],
    edges: tuple[tuple[Node | None, int], ...],
) -> None:
    """Keep what backward needs, with the version of each saved tensor."""
    saved, versions = [], []
    for pos, needed_by in op._save_plan:
        if needed_by is not None and edges[needed_by][0] is None:
            saved.append(None)
            versions.append(None)
        elif pos == OUT:
            saved.append(out if op.pack_out is None else op.pack_out(out))
            versions.append((vc, vc[0]))
        else:
            saved.append(arrays[pos])
            t = inputs[pos]
            if isinstance(t, Tensor):
                counter = t._vc
                versions.append((counter, counter[0]))
            else:
                versions.append(None)
    # Tuples: fewer containers left for the garbage collector to scan in a long-lived graph
    op.saved = tuple(saved)
    op._versions = tuple(versions)


def _keep_view(base: Tensor, view: Tensor) -> None:
    """The base keeps its views, weakly, so a recorded in-place change can rebase them; a
    view keeps its base (a view of a temporary view still reaches the root)."""
    views = base.__dict__.get("_views")
    if views is None:
        views = base.__dict__["_views"] = weakref.WeakSet()
    views.add(view)
    view.__dict__["_base"] = base


class _ViewNodes:
    """The nodes of an in-place change made through a view, handed down by the ops layer
    (``register_view_nodes``): ``as_strided(root, view)`` is the new grad_fn of a view of a
    changed tensor (AsStridedBackward0), ``copy_slices(root, view, fn)`` the new grad_fn of a
    tensor changed by ``fn`` through its view (CopySlices)."""

    as_strided: Callable[[Tensor, Tensor], Node] | None = None
    copy_slices: Callable[[Tensor, Tensor, Node], Node] | None = None


_view_nodes = _ViewNodes()


def register_view_nodes(
    as_strided: Callable[[Tensor, Tensor], Node],
    copy_slices: Callable[[Tensor, Tensor, Node], Node],
) -> None:
    """Called by the ops layer: how to make the nodes of in-place changes through views."""
    _view_nodes.as_strided = as_strided
    _view_nodes.copy_slices = copy_slices


def _view_root(t: Tensor) -> Tensor:
    """The tensor whose memory a view sees (the view's base, its base's base...)."""
    base = t.__dict__.get("_base")
    while base is not None:
        t, base = base, base.__dict__.get("_base")
    return t


def _rebase_views(base: Tensor, root: Tensor | None = None) -> None:
    """After a recorded in-place change of ``root``, its views read the new values, so their
    gradient must flow through the change too: as torch, each view recorded on it (views of
    views in turn) gets a new node on the root's new grad_fn, AsStridedBackward0."""
    root = base if root is None else root
    for view in list(base.__dict__.get("_views", ())):
        if view.grad_fn is None or not view.grad_fn.is_view:
            continue
        _rebase_view(root, view)
        _rebase_views(view, root)


def _rebase_view(root: Tensor, view: Tensor) -> None:
    """Make ``view``'s grad_fn read its elements out of ``root``'s (new) node."""
    make = _view_nodes.as_strided
    if make is None:
        raise RuntimeError("tapegrad.ops is not imported")
    view.grad_fn, view._output_nr, view._requires_grad = make(root, view), 0, True
