"""In-place operations on Tensors: applied to the array when nothing records them, else
recorded by rebasing the tensor (and its views) onto a new node; and the optimizers'
``_foreach`` updates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad._array import _inplace_shape_error, shape_str
from tapegrad._dtypes import _scalar_type_name
from tapegrad.engine.node import Node
from tapegrad.promotion import _SCALARS, _promote_scalar, _result_dtype
from tapegrad.recording import (
    _grad_state,
    _rebase_view,
    _rebase_views,
    _view_nodes,
    _view_root,
)
from tapegrad.tensor import Tensor, _wrap

NO_GRAD_VIEW_INPLACE = (
    "and is being modified inplace with grad mode enabled. "
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify "
    "your code by moving both the view and the inplace either both inside the no_grad block "
    "(if you don't want the inplace to be tracked) or both outside (if you want the inplace "
    "to be tracked)."
)


LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


def _recorded_inplace(t: Tensor, other: Any) -> bool:
    """Whether an in-place op on ``t`` with ``other`` will be recorded (see ``_inplace``)."""
    return _grad_state.enabled and (
        t._requires_grad or (isinstance(other, Tensor) and other._requires_grad)
    )


def _inplace(
    t: Tensor, ufunc: Callable[..., Any], record: Callable[..., Tensor], other: Any
) -> Tensor:
    """Apply an in-place op; rebase the graph when the result must be recorded."""
    if _grad_state.enabled and t._is_view:
        _check_view_inplace(t)
    if _recorded_inplace(t, other):
        if t.grad_fn is None and t._requires_grad:
            raise RuntimeError(LEAF_INPLACE if not t._is_view else VIEW_OF_LEAF_INPLACE)
        return _inplace_recorded(t, record, other)
    other_data = other._data if isinstance(other, Tensor) else other
    try:
        ufunc(t._data, other_data, t._data)  # ``out`` positionally (casting "same_kind")
    except TypeError:
        result = (
            _result_dtype(t, other)
            if isinstance(other, Tensor)
            else _promote_scalar(t, other).dtype
        )
        raise RuntimeError(
            f"result type {_scalar_type_name(result)} can't be cast to the desired output type "
            f"{_scalar_type_name(t._data.dtype)}"
        ) from None
    except ValueError:
        if not t._data.flags.writeable:
            raise RuntimeError(
                "unsupported operation: more than one element of the written-to tensor refers to "
                "a single memory location. Please clone() the tensor before performing the "
                "operation."
            ) from None
        raise RuntimeError(_inplace_shape_error(t.shape, np.shape(other_data))) from None
    t._vc[0] += 1
    return t


def _check_view_inplace(t: Tensor) -> None:
    """torch's errors for changing a view in place with grad mode on: a view made under
    no_grad of a tensor that requires grad, or a view of a leaf that requires grad."""
    if t._no_grad_view_of_grad:
        inherited = t._no_grad_view_of_grad
        prefix = "" if inherited is True else f"Output 0 of {inherited} is a view of a view which"
        raise RuntimeError(
            f"{prefix or 'A view'} was created in no_grad mode {NO_GRAD_VIEW_INPLACE}"
        )
    root = _view_root(t)
    if root is not t and root.grad_fn is None and root._requires_grad:
        raise RuntimeError(VIEW_OF_LEAF_INPLACE)


def _inplace_recorded(t: Tensor, record: Callable[..., Tensor], other: Any) -> Tensor:
    # The op's backward may need the value before the change (``mul_``'s other gradient):
    # a copy, as torch keeps the original self for such in-place ops.
    before = _wrap(t._data.copy(), t.grad_fn, t._output_nr, None, t._requires_grad)
    if t.grad_fn is None:
        before._acc = t._acc
    result = record(before, other)
    if result.shape != t.shape:
        raise RuntimeError(
            f"output with shape {shape_str(t.shape)} doesn't match the broadcast shape "
            f"{shape_str(result.shape)}"
        )
    np.copyto(t._data, result._data, casting="unsafe")
    _changed_by(t, result.grad_fn)
    return t


def _changed_by(t: Tensor, fn: Node, output_nr: int = 0) -> None:
    """``t``'s data was just changed in place by the recorded node ``fn`` (whose first input
    is ``t``'s old value): bump the version and make ``fn`` the new history of ``t``, or, for
    a view, a CopySlices node around it the new history of the view's base; then every view
    reads its elements out of that (torch's rebase)."""
    t._vc[0] += 1
    root = _view_root(t) if t._is_view else t
    if root is not t and not np.may_share_memory(root._data, t._data):
        root = t  # the base's ``.data`` was replaced: the view no longer sees it
    if root is not t:
        make = _view_nodes.copy_slices
        if make is None:
            raise RuntimeError("tapegrad.ops is not imported")
        node = make(root, t, fn)
        node.fn_output_nr = output_nr  # which output of ``fn`` the view is
        fn, output_nr = node, 0
    old_fn, old_nr = root.grad_fn, root._output_nr
    root.grad_fn, root._output_nr, root._requires_grad = fn, output_nr, True
    if root._retains_grad and old_fn is not None:
        _move_retain_hook(old_fn, old_nr, root)
    _rebase_views(root)
    if root is not t and (t.grad_fn is None or t.grad_fn._edges[0][0] is not fn):
        _rebase_view(root, t)  # also when the view was made before its base required grad


def _move_retain_hook(old_fn: Node, output_nr: int, t: Tensor) -> None:
    """``retain_grad`` follows the tensor to its new version, as torch (other hooks stay)."""
    hooks = old_fn._pre_hooks or []
    for item in [h for h in hooks if h[0] == output_nr and hasattr(h[1], "_retain")]:
        hooks.remove(item)
        t._node_hooks().append((0, item[1]))


def foreach_sub_(tensors: Sequence[Tensor], others: Sequence[Any], alpha: float = 1) -> None:
    """``t.sub_(o, alpha=alpha)`` for each pair (torch's ``_foreach_sub_``): an optimizer's
    whole update in one call. Outside grad mode, pairs of same-shape float tensors of one
    dtype skip the per-call checks; anything else takes ``sub_`` itself, with its errors."""
    fast = not _grad_state.enabled and type(alpha) in _SCALARS
    for t, other in zip(tensors, others):
        if fast and isinstance(other, Tensor):
            data, delta = t._data, other._data
            if data.shape == delta.shape and data.dtype is delta.dtype and data.dtype.kind == "f":
                try:
                    np.subtract(data, delta * alpha if alpha != 1 else delta, data)
                except ValueError:  # read-only: sub_ raises the clear error
                    pass
                else:
                    t._vc[0] += 1
                    continue
        t.sub_(other, alpha=alpha)


def foreach_zero_(tensors: Sequence[Tensor]) -> None:
    """``t.zero_()`` for each tensor (torch's ``_foreach_zero_``)."""
    if _grad_state.enabled:
        for t in tensors:
            t.zero_()
        return
    for t in tensors:
        try:
            t._data.fill(0)
        except ValueError:  # read-only: zero_ raises the clear error
            t.zero_()
        else:
            t._vc[0] += 1
