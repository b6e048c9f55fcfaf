"""Normalizing along a dim: softmax, log_softmax and logsumexp, computed stably."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tapegrad._array import normalize_dim, normalize_dims
from tapegrad._dtypes import _FLOAT_KIND, _scalar_type_name
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import _expand_back, numpy_names
from tapegrad.ops.samples import Array, OpInfo, reduce_samples
from tapegrad.promotion import _float_data, _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor


def _stable_max(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The max to subtract before ``exp``, 0 where it is infinite (torch's logsumexp guard);
    -inf over an empty axis."""
    m = a.max(axis=axes, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0)


# -------------------------------------------------------------------------- ops


class Logsumexp(Op):
    """NOTE: a primitive (not exp/sum/log) so the max can be subtracted for stability."""

    node_name = "LogsumexpBackward0"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        m = _stable_max(a, axes)
        out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in axes])

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        g_full = _expand_back(xp, g, self.shape, self.axes, self.keepdim)
        out_full = _expand_back(xp, out, self.shape, self.axes, self.keepdim)
        return (g_full * xp.exp(a - out_full),)


class Softmax(Op):
    node_name = "SoftmaxBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        # axes: the softmax dim, or () for a 0-d input; no guard on an infinite max, so
        # an inf (or a row of -inf) gives NaN, as torch
        self.axes = axes
        e = np.exp(a - a.max(axis=axes, keepdims=True, initial=-np.inf))
        return e / e.sum(axis=axes, keepdims=True)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (out * (g - xp.sum(g * out, self.axes)),)


class LogSoftmax(Op):
    """NOTE: a primitive so the max can be subtracted before exp (no overflow)."""

    node_name = "LogSoftmaxBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes  # as Softmax's
        shifted = a - a.max(axis=axes, keepdims=True, initial=-np.inf)
        return shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g - xp.exp(out) * xp.sum(g, self.axes),)


# ------------------------------------------------------------- registry samples


def _np_logsumexp(a: Array, dim: Any, keepdim: bool = False) -> Array:
    m = np.max(a, axis=dim, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


def _np_softmax(a: Array, dim: int) -> Array:
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


# ------------------------------------------------- Tensor methods and functions


@declare(
    tests=[
        OpInfo(
            "logsumexp",
            "LogsumexpBackward0",
            lambda ns, a, **kw: a.logsumexp(**kw),
            _np_logsumexp,
            reduce_samples(),
        ),
    ]
)
@numpy_names
def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x), dim))``, computed stably."""
    axes = normalize_dims(dim, self.ndim)
    return _run_op(Logsumexp(), (self,), (_float_data(self),), axes=axes, keepdim=keepdim)


@declare(
    tests=[
        OpInfo(
            "softmax",
            "SoftmaxBackward0",
            lambda ns, a, dim: a.softmax(dim),
            _np_softmax,
            reduce_samples(keep=False),
        ),
    ]
)
@numpy_names
def softmax(self, dim: int) -> Tensor:
    """Softmax along ``dim``."""
    axes = _softmax_axes(dim, self.ndim)
    _check_softmax_dtype(self, axes, "softmax")
    return _run_op(Softmax(), (self,), (self._data,), axes=axes)


@declare(
    tests=[
        OpInfo(
            "log_softmax",
            "LogSoftmaxBackward0",
            lambda ns, a, dim: a.log_softmax(dim),
            lambda a, dim: np.log(_np_softmax(a, dim)),
            reduce_samples(keep=False),
        ),
    ]
)
@numpy_names
def log_softmax(self, dim: int) -> Tensor:
    """Log of softmax along ``dim``, computed stably."""
    axes = _softmax_axes(dim, self.ndim)
    _check_softmax_dtype(self, axes, "log_softmax")
    return _run_op(LogSoftmax(), (self,), (self._data,), axes=axes)


# -------------------------------------------------------------- nn.functional forms


@declare(functional="softmax")
def softmax_functional(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """Softmax along ``dim`` (torch's implicit-dim rule, with its warning, when omitted)."""
    x = _softmax_input(input, dtype, "softmax")
    return x.softmax(_softmax_dim(dim, x.ndim, "softmax"))


@declare(functional="log_softmax")
def log_softmax_functional(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """Log of softmax along ``dim``, computed stably."""
    x = _softmax_input(input, dtype, "log_softmax")
    return x.log_softmax(_softmax_dim(dim, x.ndim, "log_softmax"))


def _softmax_input(input: Any, dtype: Any, name: str) -> Tensor:  # noqa: A002
    x = _tensor_arg(input, "input", name)
    return x if dtype is None else x.to(dtype)


def _softmax_dim(dim: int | None, ndim: int, name: str) -> int:
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


# -------------------------------------------------------------- argument checks


def _softmax_axes(dim: int, ndim: int) -> tuple[int, ...]:
    """The softmax dim as a tuple of axes: () for a 0-d tensor (dim 0 or -1, as torch)."""
    axis = normalize_dim(dim, ndim)
    return (axis,) if ndim else ()


def _check_softmax_dtype(t: Tensor, axes: tuple[int, ...], name: str) -> None:
    """torch has no integer or bool softmax (``F.softmax(x, dim, dtype=...)`` casts first);
    its message names the kernel: the last dimension's own, or the general one."""
    if t._data.dtype.kind != _FLOAT_KIND:
        kernel = "lastdim_kernel_impl" if not axes or axes[0] == t.ndim - 1 else "kernel_impl"
        type_name = _scalar_type_name(t._data.dtype)
        raise NotImplementedError(f"\"{name}_{kernel}\" not implemented for '{type_name}'")
