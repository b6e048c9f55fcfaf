"""Ops driven by a boolean mask (masked_fill, masked_select, masked_scatter), ``nonzero``
and ``nn.functional.one_hot``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import broadcast_error, shape_str
from tapegrad._dtypes import _scalar_type_name
from tapegrad._index_plan import _check_expand, _scalar_array
from tapegrad.ops.base import HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.gather import (
    LONG_INDEX,
    at_least_1d,
    check_dtype,
    check_fill_grad,
    index_data,
    inplace_as,
    ix,
)
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# torch's C++ spelling of a mask's dtype in masked_fill's message
_CXX_TYPES = {
    "float32": "float",
    "float64": "double",
    "float16": "c10::Half",
    "int64": "long int",
    "int32": "int",
    "int16": "short int",
    "int8": "signed char",
    "uint8": "unsigned char",
}


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    message = broadcast_error(a, b)
    if message:
        raise RuntimeError(message)
    return np.broadcast_shapes(a, b)


def _mask_of(mask: Any, fn: str) -> np.ndarray:
    return index_data(mask, fn, 1, "mask")


# -------------------------------------------------------------------------- ops


class MaskedFill(HoldingOp):
    """``value`` where the mask is true; the result has the broadcast shape."""

    node_name = "MaskedFillBackward0"
    held = ("mask",)

    def forward(self, a: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
        self.mask = mask
        return np.where(mask, value, a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.where(self.mask, 0, g),)


class MaskedFillTensor(HoldingOp):
    """``masked_fill`` with a 0-d tensor value: it gets the gradient of all it filled."""

    node_name = "MaskedFillBackward1"
    held = ("mask",)

    def forward(self, a: np.ndarray, value: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.mask = mask
        return np.where(mask, value, a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.where(self.mask, 0, g), xp.where(self.mask, g, 0))


class MaskedSelect(HoldingOp):
    """The elements where the (broadcast) mask is true, as a vector."""

    node_name = "MaskedSelectBackward0"
    held = ("key",)

    def forward(self, a: np.ndarray, key: Any, shape: tuple[int, ...]) -> np.ndarray:
        self.key, self.shape = key, shape
        return np.broadcast_to(a, shape).reshape(at_least_1d(shape))[key]

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        out = xp.index_into_zeros(g, at_least_1d(self.shape), self.key, False)
        return (out if out.shape == self.shape else xp.reshape(out, self.shape),)


class MaskedScatter(HoldingOp):
    """``source``'s first elements, in order, where the mask is true."""

    node_name = "MaskedScatterBackward0"
    held = ("key", "mask")

    def forward(self, a: np.ndarray, s: np.ndarray, key: Any, mask: np.ndarray) -> np.ndarray:
        self.key, self.mask, self.src_shape = key, mask, s.shape
        out = np.broadcast_to(a, mask.shape).copy()
        flat = out.reshape(at_least_1d(out.shape))
        flat[key] = s.reshape(-1)[: len(key[0])]
        return out

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        g1 = g if g.shape else xp.reshape(g, (1,))
        picked = xp.index(g1, self.key)
        size = int(np.prod(self.src_shape))
        if picked.shape[0] != size:
            picked = xp.index_into_zeros(picked, (size,), (slice(0, picked.shape[0]),), False)
        return (xp.where(self.mask, 0, g), xp.reshape(picked, self.src_shape))


def _mask_key(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    return np.nonzero(mask.reshape(at_least_1d(mask.shape)))


# --------------------------------------------------------------- registry samples

_MASK_34 = np.array([[True, False, True, False], [False, False, True, True], [True] * 4])
_ROW = np.array([False, True, True, False])


# ------------------------------------------------------------------ Tensor methods


@declare(
    tests=[
        OpInfo(
            "masked_fill",
            "MaskedFillBackward0",
            lambda ns, a, mask: a.masked_fill(ix(ns, mask), -0.5),
            lambda a, mask: np.where(mask, -0.5, a),
            fixed(
                (((3, 4),), "same shape", {"mask": _MASK_34}),
                (((3, 4),), "mask broadcast", {"mask": _ROW}),
                (((4,),), "self broadcast", {"mask": _MASK_34}),
                (((3, 1),), "size-1 dim", {"mask": _MASK_34[:, :1]}),
                (((),), "0-d", {"mask": np.array(False)}),
            ),
        ),
        OpInfo(
            "masked_fill_tensor",
            "MaskedFillBackward1",
            lambda ns, a, v, mask: a.masked_fill(ix(ns, mask), v),
            lambda a, v, mask: np.where(mask, v, a),
            fixed(
                (((3, 4), ()), "same shape", {"mask": _MASK_34}),
                (((4,), ()), "self broadcast", {"mask": _MASK_34}),
                (((), ()), "0-d", {"mask": np.array(True)}),
            ),
        ),
    ]
)
def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
    """``value`` (a number or a 0-d tensor) where ``mask`` is true, else ``self`` (the two
    broadcast together)."""
    m = _fill_mask(self, mask, value, inplace=False)
    data = self._data
    if isinstance(value, Tensor):
        check_fill_grad(self, value)
        fill = value._data.astype(data.dtype, copy=False)
        return _run_op(MaskedFillTensor(), (self, value), (data, fill), mask=m)
    if not isinstance(value, bool | int | float | complex | np.generic):
        raise TypeError(
            f"masked_fill(): argument 'value' must be Number or Tensor, not {type(value).__name__}"
        )
    fill = _scalar_array(value.item() if isinstance(value, np.generic) else value, data.dtype)
    return _run_op(MaskedFill(), (self,), (data,), mask=m, value=fill)


@declare(function=False)
def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
    """``masked_fill`` in place (the mask must broadcast to ``self``'s shape)."""
    return inplace_as(self, value, lambda t: _masked_fill_into(t, mask, value))


def _masked_fill_into(t: Tensor, mask: Any, value: Any) -> Tensor:
    _fill_mask(t, mask, value, inplace=True)  # after the leaf check, as torch
    return t.masked_fill(mask, value)


def _fill_mask(self: Tensor, mask: Any, value: Any, inplace: bool) -> np.ndarray:
    """masked_fill's checks in torch's order; the in-place form names ``self`` first."""
    m = _mask_of(mask, "masked_fill")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    if m.dtype != np.bool_:
        raise RuntimeError(
            "masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{_CXX_TYPES.get(m.dtype.name, m.dtype.name)}"
        )
    if inplace:
        _broadcast(self.shape, m.shape)
    else:
        _broadcast(m.shape, self.shape)
    return m


@declare(
    tests=[
        OpInfo(
            "masked_select",
            "MaskedSelectBackward0",
            lambda ns, a, mask: a.masked_select(ix(ns, mask)),
            lambda a, mask: np.broadcast_to(a, np.broadcast_shapes(a.shape, mask.shape))[
                np.broadcast_to(mask, np.broadcast_shapes(a.shape, mask.shape))
            ],
            fixed(
                (((3, 4),), "same shape", {"mask": _MASK_34}),
                (((3, 4),), "mask broadcast", {"mask": _ROW}),
                (((4,),), "self broadcast", {"mask": _MASK_34}),
                (((),), "0-d", {"mask": np.array(True)}),
            ),
        ),
    ]
)
def masked_select(self, mask: Tensor) -> Tensor:
    """The elements of ``self`` where ``mask`` is true (broadcast together), as a vector."""
    m = _mask_of(mask, "masked_select")
    if m.dtype != np.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = _broadcast(m.shape, self.shape)
    key = _mask_key(np.broadcast_to(m, shape))
    return _run_op(MaskedSelect(), (self,), (self._data,), key=key, shape=shape)


@declare(
    tests=[
        OpInfo(
            "masked_scatter",
            "MaskedScatterBackward0",
            lambda ns, a, s, mask: a.masked_scatter(ix(ns, mask), s),
            lambda a, s, mask: _ref_masked_scatter(a, s, mask),
            fixed(
                (((3, 4), (3, 4)), "same shape", {"mask": _MASK_34}),
                (((3, 4), (7,)), "mask broadcast, source exact", {"mask": _ROW}),
                (((4,), (2, 5)), "self broadcast", {"mask": _MASK_34}),
                (((), (2,)), "0-d", {"mask": np.array(True)}),
            ),
        ),
    ]
)
def masked_scatter(self, mask: Tensor, source: Tensor) -> Tensor:
    """``self`` with the elements of ``source``, in order, written where ``mask`` is true."""
    m, src = _scatter_checks(self, mask, source)
    full = np.broadcast_to(m, _broadcast(m.shape, self.shape))
    key = _mask_key(full)
    if len(key[0]) > src.size:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    return _run_op(MaskedScatter(), (self, source), (self._data, src), key=key, mask=full)


@declare(function=False)
def masked_scatter_(self, mask: Tensor, source: Tensor) -> Tensor:
    """``masked_scatter`` in place (the mask is expanded to ``self``'s shape)."""
    return inplace_as(self, source, lambda t: _masked_scatter_into(t, mask, source))


def _masked_scatter_into(t: Tensor, mask: Any, source: Any) -> Tensor:
    m, _ = _scatter_checks(t, mask, source)  # after the leaf check, as torch
    if m.ndim > t.ndim:
        raise RuntimeError(
            f"expand(CPUBoolType{{{shape_str(m.shape)}}}, size={shape_str(t.shape)}): the "
            f"number of sizes provided ({t.ndim}) must be greater or equal to the number of "
            f"dimensions in the tensor ({m.ndim})"
        )
    _check_expand(m, t.shape)
    return t.masked_scatter(mask, source)


def _scatter_checks(self: Tensor, mask: Any, source: Any) -> tuple[np.ndarray, np.ndarray]:
    """masked_scatter's dtype checks, in torch's order: the mask and source arrays."""
    m = _mask_of(mask, "masked_scatter")
    src = index_data(source, "masked_scatter", 2, "source")
    if src.dtype != self._data.dtype:
        raise RuntimeError(
            "masked_scatter: expected self and source to have same dtypes but got"
            f"{_scalar_type_name(self._data.dtype)} and {_scalar_type_name(src.dtype)}"
        )
    if m.dtype != np.bool_:
        raise RuntimeError(
            "masked_scatter_ only supports boolean masks, but got mask with dtype "
            f"{_scalar_type_name(m.dtype)}"
        )
    return m, src


def _ref_masked_scatter(a: np.ndarray, s: np.ndarray, mask: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(a.shape, mask.shape)
    out = np.broadcast_to(a, shape).astype(float).reshape(-1)
    values = iter(s.reshape(-1))
    for i, m in enumerate(np.broadcast_to(mask, shape).reshape(-1)):
        if m:
            out[i] = next(values)
    return out.reshape(shape)


@declare()
def nonzero(self, *, as_tuple: bool = False) -> Any:
    """The indices of the nonzero elements: an ``(n, ndim)`` int64 tensor, or with
    ``as_tuple=True`` one int64 vector per dimension (a 0-d tensor counts as a vector)."""
    data = self._data
    if as_tuple:
        return tuple(_wrap(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(data)))
    return _wrap(np.argwhere(data).astype(np.int64))


@declare(functional="one_hot")
def one_hot(input: Tensor, num_classes: int = -1) -> Tensor:  # noqa: A002 - torch's name
    """``(*, num_classes)`` int64 tensor with a 1 at each value of the int64 ``input``
    (``num_classes=-1``: one more than the largest value)."""
    data = index_data(input, "one_hot", 1, "input")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise TypeError(
            "one_hot(): argument 'num_classes' (position 2) must be int, not "
            f"{type(num_classes).__name__}"
        )
    check_dtype(
        data,
        LONG_INDEX,
        "one_hot is only applicable to index tensor of type LongTensor.",
        RuntimeError,
    )
    if num_classes == -1:
        if not data.size:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(data.max()) + 1
    if data.size and data.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if data.size and data.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return _wrap((data[..., None] == np.arange(max(int(num_classes), 0))).astype(np.int64))
