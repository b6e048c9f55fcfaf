"""``tensor[key]`` and ``tensor[key] = value``, read the way torch 2.x reads them.

A key is walked as torch's ``applySlicing`` walks it: ints, slices, None, Ellipsis and bools
become Select/Slice/Unsqueeze views (recorded as torch records them); index tensors, sequences
and masks are collected and applied last, as one Index op (IndexBackward0) or one index_put.
Every check runs in torch's order, so the first error reported is the one torch reports.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._array import _type_name
from tapegrad._conversion import _to_array
from tapegrad._index_plan import (
    _MASK_DTYPES,
    _SEQUENCE_AS_TUPLE_MAX,
    INVALID_INDEX,
    OVERLAP,
    SEQUENCE_AS_TUPLE,
    _as_long,
    _check_bounds,
    _check_expand,
    _check_int64,
    _index_info,
    _index_put,
    _IndexInfo,
    _is_long,
    _is_sequence,
    _is_single,
    _overlap,
    _Plan,
    _scalar_array,
    _strip_leading_ones,
    _tensor_type,
    _view_array,
    _walk_index,
    _warn,
    _write,
)
from tapegrad.engine.grad_mode import is_grad_enabled
from tapegrad.inplace import LEAF_INPLACE, VIEW_OF_LEAF_INPLACE, _changed_by, _check_view_inplace
from tapegrad.ops import view_inplace  # noqa: F401 - hands the view nodes down to recording
from tapegrad.ops.base import HoldingOp, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.ops.shape import Alias
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class Select(Op):
    """``x[..., i, ...]`` for one integer index."""

    node_name = "SelectBackward0"
    is_view = True

    def forward(self, a: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        self.in_shape, self.key = a.shape, key
        return a[key]

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index_into_zeros(g, self.in_shape, self.key, False),)


class Slice(Select):
    node_name = "SliceBackward0"


class Index(HoldingOp):
    """Advanced indexing (integer arrays, boolean masks); repeated indices accumulate."""

    node_name = "IndexBackward0"
    held = ("key",)

    def forward(self, a: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        self.in_shape, self.key = a.shape, key
        return a[key]

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index_into_zeros(g, self.in_shape, self.key, True),)


class IndexPut(Op):
    """``t[indices] = values`` as torch records it (index_put_): the overwritten elements'
    old values get no gradient, the values get theirs (repeated positions each get one)."""

    node_name = "IndexPutBackward0"

    def forward(self, dst: np.ndarray, values: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        self.key = key
        keep = np.ones(dst.shape, dtype=dst.dtype)
        keep[key] = 0
        self.keep = keep
        return dst  # written already, with torch's checks (``_index_plan._index_put``)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        old = xp.mul_const(g, self.keep) if self._edges[0][0] is not None else None
        new = xp.index(g, self.key) if self._edges[1][0] is not None else None
        return old, new


class IndexIntoZeros(Op):
    """The backward of indexing, as an op of its own so it can be differentiated again."""

    node_name = "IndexPutBackward0"

    def forward(
        self, g: np.ndarray, shape: tuple[int, ...], key: Any, accumulate: bool
    ) -> np.ndarray:
        from tapegrad.ops.base import ARRAY_NS

        self.key = key
        return ARRAY_NS.index_into_zeros(g, shape, key, accumulate)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index(g, self.key),)


# --------------------------------------------------------------- Tensor methods


@declare(
    function=False,
    tests=[
        OpInfo(
            "select",
            "SelectBackward0",
            lambda ns, a, i: a[i],
            lambda a, i: a[i],
            fixed(
                (((3, 4),), "a[1]", {"i": 1}),
                (((3, 4),), "a[-1]", {"i": -1}),
                (((3, 4),), "a[:, 2]", {"i": (slice(None), 2)}),
                (((2, 3, 4),), "a[..., 1]", {"i": (Ellipsis, 1)}),
            ),
        ),
        OpInfo(
            "slice",
            "SliceBackward0",
            lambda ns, a, i: a[i],
            lambda a, i: a[i],
            fixed(
                (((5, 4),), "a[1:4]", {"i": slice(1, 4)}),
                (((5, 4),), "a[:, ::2]", {"i": (slice(None), slice(None, None, 2))}),
                (((5, 4),), "a[-3:]", {"i": slice(-3, None)}),
            ),
        ),
        OpInfo(
            "index_none",
            "UnsqueezeBackward0",
            lambda ns, a, i: a[i],
            lambda a, i: a[i],
            fixed(
                (((4, 3),), "a[:, 0, None] (the blog)", {"i": (slice(None), 0, None)}),
                (((4, 3),), "a[None]", {"i": None}),
            ),
        ),
        OpInfo(
            "index_array",
            "IndexBackward0",
            lambda ns, a, i: a[i],
            lambda a, i: a[i],
            fixed(
                (((5, 3),), "a[[0, 2, 4]]", {"i": [0, 2, 4]}),
                (((5, 3),), "repeated a[[1, 1, 3]]", {"i": [1, 1, 3]}),
                (((5, 3),), "a[[0, 1], [2, 0]]", {"i": ([0, 1], [2, 0])}),
            ),
        ),
        OpInfo(
            "index_mask",
            "IndexBackward0",
            lambda ns, a, m: a[m],
            lambda a, m: a[m],
            fixed(
                (
                    ((4, 3),),
                    "a[mask]",
                    {"m": np.array([[True, False, True]] * 2 + [[False, True, False]] * 2)},
                )
            ),
        ),
    ],
)
def __getitem__(t: Tensor, key: Any) -> Tensor:
    """``t[key]``: a chain of views, then one Index op when the key holds tensors or masks."""
    plan = _plan(t.shape, key)
    out = t
    for kind, dim, arg in plan.steps:
        out = _view_tensor(out, kind, dim, arg)
    if plan.indices:
        return _index(out, _index_info(out.shape, plan.indices))
    if out is t:
        return _run_op(Alias(), (t,), (t._data,), shape=t.shape)
    return out


@declare(function=False)
def __setitem__(t: Tensor, key: Any, value: Any) -> None:
    """``t[key] = value`` in place; recorded as torch records it when a gradient flows."""
    src = _value_array(t, value)
    if key is False:
        return  # torch does nothing at all, whatever the value's shape
    # a lone True only adds a dimension here: torch copies into ``t.unsqueeze(0)``
    plan = _plan(t.shape, None if key is True else key, setting=True)
    dst = t._data
    for kind, dim, arg in plan.steps:
        dst = _view_array(dst, kind, dim, arg)
    is_view = bool(plan.steps)
    if plan.indices:
        record = _check_grad(t, value, is_view)
        _index_put(dst, plan.indices, _strip_leading_ones(src))
    else:
        record = _copy_to(t, value, is_view, dst, src)
    if record:
        _record_assignment(t, plan, value, src)
    else:
        t._vc[0] += 1


def _plan(shape: tuple[int, ...], key: Any, setting: bool = False) -> _Plan:
    """Read ``key`` against ``shape``: torch's single-index fast paths, else applySlicing
    (only ``t[:] = v`` skips the view of a slice covering the whole dimension)."""
    if _is_single(key):
        return _walk(shape, (key,), specified=0, optimize=setting)
    items = _as_tuple(key)
    specified = _count_specified(items)
    if specified > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    return _walk(shape, items, specified, optimize=True)


def _walk(shape: tuple[int, ...], items: tuple[Any, ...], specified: int, optimize: bool) -> _Plan:
    """torch's ``applySlicing``: ``dim`` is where the next component applies."""
    plan = _Plan(shape)
    dim = 0
    for real_dim, obj in enumerate(items):
        if obj is Ellipsis:
            dim += len(shape) - specified
        elif obj is None:
            plan.unsqueeze(dim)
            dim += 1
        elif isinstance(obj, bool):
            plan.boolean(dim, obj)
            dim += 1
        elif isinstance(obj, slice):
            plan.slice(dim, obj, optimize)
            dim += 1
        else:
            dim = _walk_index(plan, dim, _index_object(obj), real_dim)
    return plan


def _as_tuple(key: Any) -> tuple[Any, ...]:
    """A short list holding a sequence, slice, None or ``...`` stands for a tuple, as in torch."""
    if isinstance(key, tuple):
        return key
    if isinstance(key, Tensor | np.ndarray) or not isinstance(key, Sequence):
        return (key,)
    if len(key) >= _SEQUENCE_AS_TUPLE_MAX:
        return (key,)
    for obj in key:
        if isinstance(obj, Tensor | slice) or _is_sequence(obj) or obj is None or obj is Ellipsis:
            _warn(SEQUENCE_AS_TUPLE)
            return tuple(key)
    return (key,)


def _count_specified(items: tuple[Any, ...]) -> int:
    """Dimensions a key consumes: a mask tensor its ndim; None, ... and bools none."""
    count = 0
    for obj in items:
        if isinstance(obj, Tensor) and obj._data.dtype in _MASK_DTYPES:
            count += obj.ndim
        elif not (obj is None or obj is Ellipsis or isinstance(obj, bool)):
            count += 1
    return count


def _index_object(obj: Any) -> int | np.ndarray:
    """One key component that is not a slice, None, ... or bool: an int or an index array."""
    if _is_long(obj):
        return _as_long(obj)
    if isinstance(obj, Tensor):
        return obj._data
    if _is_sequence(obj):
        return _sequence_index(obj)
    try:
        return _as_long(operator.index(obj))
    except TypeError:
        raise IndexError(INVALID_INDEX.format(_type_name(obj))) from None


def _sequence_index(obj: Any) -> np.ndarray:
    """A list or array used as an index: bool and uint8 stay masks, the rest becomes long."""
    _check_items(obj)
    arr = _to_array(obj, None)
    if arr.dtype.kind == "c":
        raise TypeError("'complex' object cannot be interpreted as an integer")
    if arr.dtype in _MASK_DTYPES:
        return arr
    return arr.astype(np.int64)


def _check_items(obj: Any) -> None:
    """torch infers the data's dtype first (strings and non-numbers fail), then stores it."""
    _check_inferable(obj)
    _check_int64(obj)


def _check_inferable(obj: Any) -> None:
    if isinstance(obj, str | bytes):
        raise TypeError(f"new(): invalid data type '{type(obj).__name__}'")
    if isinstance(obj, Sequence):
        for item in obj:
            _check_inferable(item)
    elif not isinstance(obj, numbers.Number | np.generic | np.ndarray | Tensor):
        raise RuntimeError(f"Could not infer dtype of {_type_name(obj)}")


def _view_tensor(t: Tensor, kind: str, dim: int, arg: Any) -> Tensor:
    """One planned step on a tensor, recorded as torch records it."""
    if kind == "unsqueeze":
        return t.unsqueeze(dim)
    op = Select() if kind == "select" else Slice()
    # ``...`` keeps a 0-d result a view of the memory, as torch's select is
    return _run_op(op, (t,), (t._data,), key=(slice(None),) * dim + (arg, Ellipsis))


def _index(t: Tensor, info: _IndexInfo) -> Tensor:
    """One Index op; numpy finds bad indices, torch's message names them."""
    try:
        return _run_op(Index(), (t,), (t._data,), key=info.key())
    except IndexError:
        if not math.prod(info.result()):  # torch reads no index when the result is empty
            return _run_op(Index(), (t,), (t._data,), key=info.key(zeros=True))
        _check_bounds(info)
        raise


def _value_array(t: Tensor, value: Any) -> np.ndarray:
    """The value as an array: a tensor's data, or a Python number converted to ``t``'s dtype."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, bool | float | complex) or _is_long(value):
        return _scalar_array(value, t._data.dtype)
    raise TypeError(f"can't assign a {_type_name(value)} to a {_tensor_type(t._data.dtype)}")


def _check_grad(t: Tensor, value: Any, is_view: bool) -> bool:
    """torch's in-place checks; whether the assignment is to be recorded."""
    if not is_grad_enabled():
        return False
    if t._is_view:
        _check_view_inplace(t)
    if t.requires_grad and t.grad_fn is None:
        raise RuntimeError(VIEW_OF_LEAF_INPLACE if is_view or t._is_view else LEAF_INPLACE)
    return t.requires_grad or (isinstance(value, Tensor) and value.requires_grad)


def _copy_to(t: Tensor, value: Any, is_view: bool, dst: np.ndarray, src: np.ndarray) -> bool:
    """torch's ``copy_to``: same shape, a 0-d fill, or an expand of the value to the target;
    whether the copy is to be recorded."""
    if dst.shape != src.shape and src.ndim:
        src = _strip_leading_ones(src)
        _check_expand(src, dst.shape)
    record = _check_grad(t, value, is_view)
    # a 0-d value is a fill (read first); an expanded one is not dense, so never checked
    if (src.ndim or not dst.ndim) and _overlap(dst, np.broadcast_to(src, dst.shape)) == "partial":
        raise RuntimeError(OVERLAP)
    _write(dst, Ellipsis, src)
    return record


def _record_assignment(t: Tensor, plan: _Plan, value: Any, src: np.ndarray) -> None:
    """The values are written: record the change as torch does, on the (view) tensor the key
    selects: IndexPutBackward0 for index tensors, else a copy (CopyBackwards) or a fill
    (FillBackward3); CopySlices on the base when the key made a view."""
    from tapegrad.ops.copying import CopyInto, FillTensor

    dst = t
    for kind, dim, arg in plan.steps:
        dst = _view_tensor(dst, kind, dim, arg)
    grad_value = value if isinstance(value, Tensor) and value._requires_grad else None
    meta: dict[str, Any] = {}
    if plan.indices:
        op: Op = IndexPut()
        info = _index_info(dst.shape, plan.indices)
        meta["key"] = info.key(zeros=not math.prod(info.result()))
        stripped = _strip_leading_ones(src).shape
        if grad_value is not None and grad_value.shape != stripped:
            grad_value = grad_value.view(stripped)
    elif dst.shape == src.shape or src.ndim:
        op = CopyInto()
        if grad_value is not None and grad_value.shape != dst.shape:
            grad_value = grad_value.view(_strip_leading_ones(src).shape)
            if grad_value.shape != dst.shape:
                grad_value = grad_value.expand(dst.shape)
    else:
        op = FillTensor()
    values = src if grad_value is None else grad_value._data
    fn = _run_op(op, (dst, grad_value), (dst._data, values), **meta).grad_fn
    _changed_by(dst, fn)
