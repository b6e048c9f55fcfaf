"""Copies: clone, and the in-place fills and copy_ (casts are in ``conversion``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.inplace import _inplace
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, whole_samples
from tapegrad.promotion import _as_tensor
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class Clone(Op):
    __slots__ = ()
    node_name = "CloneBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.copy()

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class CopyInto(Op):
    """``dst.copy_(src)`` recorded in the graph: dst's old value gets no gradient."""

    __slots__ = ()
    node_name = "CopyBackwards"

    def forward(self, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
        return np.broadcast_to(src, dst.shape).astype(dst.dtype)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g * 0, g


class Fill(Op):
    """``fill_(number)`` as recorded on a tensor that requires grad: the result no longer
    depends on the old values (their gradient is 0)."""

    __slots__ = ()
    node_name = "FillBackward2"

    def forward(self, a: np.ndarray, value: Any) -> np.ndarray:
        return np.full_like(a, value)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g),)


class Zero(Fill):
    """``zero_()``, recorded."""

    __slots__ = ()
    node_name = "ZeroBackward0"


class FillTensor(Op):
    """``fill_(value)`` with a 0-d tensor value: every element's gradient flows to it."""

    __slots__ = ()
    node_name = "FillBackward3"

    def forward(self, a: np.ndarray, value: np.ndarray) -> np.ndarray:
        return np.full_like(a, value)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g), xp.sum(g, tuple(range(g.ndim)), keepdims=False))


# ------------------------------------------------- Tensor methods and functions


@declare(
    tests=[
        OpInfo("clone", "CloneBackward0", lambda ns, a: a.clone(), np.copy, whole_samples()),
    ]
)
def clone(self) -> Tensor:
    """A copy that stays in the graph (CloneBackward0)."""
    return _run_op(Clone(), (self,), (self._data,))


@declare(function=False)
def zero_(self) -> Tensor:
    """Fill with zeros in place."""
    return _inplace(self, _fill_kernel, _zero_recorded, 0)


@declare(function=False)
def fill_(self, value: Any) -> Tensor:
    """Fill with ``value`` (a number or a 0-d tensor, whose gradient is kept) in place."""
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(
            "fill_ only supports 0-dimension value tensor but got tensor with "
            f"{value.ndim} dimensions."
        )
    return _inplace(self, _fill_kernel, _fill_recorded, value)


@declare(function=False)
def copy_(self, src: Any) -> Tensor:
    """Copy ``src`` (broadcast) into self in place."""
    return _inplace(self, _copy_kernel, _copy_recorded, src)


# ------------------------------------------------------------- in-place kernels


def _fill_kernel(a: np.ndarray, value: Any, out: np.ndarray) -> None:
    out.fill(value)


def _fill_recorded(t: Tensor, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return _run_op(FillTensor(), (t, value), (t._data, value._data))
    return _run_op(Fill(), (t,), (t._data,), value=value)


def _zero_recorded(t: Tensor, value: Any) -> Tensor:
    return _run_op(Zero(), (t,), (t._data,), value=0)


def _copy_kernel(a: np.ndarray, src: Any, out: np.ndarray) -> None:
    np.copyto(out, src, casting="unsafe")


def _copy_recorded(t: Tensor, src: Any) -> Tensor:
    src = _as_tensor(src)
    return _run_op(CopyInto(), (t, src), (t._data, src._data))
