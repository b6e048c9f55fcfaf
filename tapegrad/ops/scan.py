"""Cumulative ops along a dim: cumsum, cumprod, cummax, cummin, logcumsumexp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import normalize_dim
from tapegrad._dtypes import _FLOAT_KIND, _scalar_type_name
from tapegrad.inplace import _inplace
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import numpy_names, return_type
from tapegrad.ops.samples import Array, OpInfo, Sample, normal, positive
from tapegrad.ops.sorting import Picked
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

CummaxResult = return_type("cummax")
CumminResult = return_type("cummin")


# ------------------------------------------------- helpers for backward rules


def raw(x: Any) -> np.ndarray:
    """The array of a saved value (a Tensor when the backward pass is recorded)."""
    return x._data if isinstance(x, Tensor) else x


def flip(xp: Any, a: Any, axis: int) -> Any:
    """``a`` reversed along ``axis``, on arrays or (recorded, by indexing) on Tensors."""
    if isinstance(a, np.ndarray):
        return np.flip(a, axis)
    return take(xp, a, axis, np.arange(a.shape[axis] - 1, -1, -1))


def take(xp: Any, a: Any, axis: int, idx: np.ndarray) -> Any:
    """``a`` at positions ``idx`` along ``axis``."""
    if isinstance(a, np.ndarray):
        return np.take(a, idx, axis=axis)
    return xp.index(a, (slice(None),) * axis + (idx,))


def reverse_cumsum(xp: Any, a: Any, axis: int) -> Any:
    """``out[i] = sum(a[j] for j >= i)`` along ``axis``."""
    return flip(xp, xp.cumsum(flip(xp, a, axis), axis), axis)


def exclusive_cumprod(xp: Any, a: Any, axis: int) -> Any:
    """``out[i] = prod(a[j] for j < i)`` along ``axis`` (1 at the start)."""
    n = a.shape[axis]
    shifted = take(xp, a, axis, np.maximum(np.arange(n) - 1, 0))
    start = _along(np.arange(n) == 0, axis, len(a.shape))
    return xp.cumprod(xp.where(start, 1.0, shifted), axis)


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A 1-d array shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    return v.reshape([v.size if i == axis else 1 for i in range(ndim)])


def _accumulator(a: np.ndarray) -> np.dtype:
    """torch's CPU scans accumulate floats in double (then round each result back)."""
    return np.dtype(np.float64) if a.dtype.kind == _FLOAT_KIND else a.dtype


def _logcumsumexp(a: Any, axis: int) -> Any:
    if isinstance(a, np.ndarray):
        return np.logaddexp.accumulate(a, axis=axis)
    return a.logcumsumexp(axis)


# -------------------------------------------------------------------------- ops


class Cumsum(Op):
    """``cumsum(dim)``: the gradient is the reversed running sum of the gradient."""

    node_name = "CumsumBackward0"

    def forward(self, a: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        if not a.ndim:
            return a.copy()
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN silently, as torch
            return np.cumsum(a, axis=axis, dtype=_accumulator(a)).astype(a.dtype, copy=False)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (reverse_cumsum(xp, g, self.axis) if len(g.shape) else g,)


class Cumprod(Op):
    """The gradient is exact where the input has zeros, as torch's."""

    node_name = "CumprodBackward0"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        if not a.ndim:
            return a.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            return np.cumprod(a, axis=axis, dtype=_accumulator(a)).astype(a.dtype, copy=False)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        axis = self.axis
        if not len(g.shape):
            return (g,)
        if not (raw(a) == 0).any():
            return (reverse_cumsum(xp, g * out, axis) / a,)
        if isinstance(a, np.ndarray):
            return (_cumprod_grad_zeros(g, a, out, axis),)
        return (_cumprod_grad_recorded(xp, g, a, axis),)


def _cumprod_grad_zeros(g: np.ndarray, a: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Before the first zero: the usual rule; at it: the product before it times the
    gradient flowing through the products after it; past it: 0."""
    zero = a == 0
    zeros_so_far = np.cumsum(zero, axis=axis)
    before = zeros_so_far == 0
    first = zero & (zeros_so_far == 1)
    safe = np.where(before, a, 1)
    grad = np.where(before, np.flip(np.cumsum(np.flip(g * out, axis), axis), axis) / safe, 0)
    tail = np.cumprod(np.where(before | first, 1, a), axis=axis)
    through = np.sum(np.where(before, 0, g * tail), axis=axis, keepdims=True)
    return grad + np.where(first, np.prod(safe, axis=axis, keepdims=True) * through, 0)


def _cumprod_grad_recorded(xp: Any, g: Any, a: Any, axis: int) -> Any:
    """``grad[i] = sum(g[j] * prod(a[k] for k <= j if k != i) for j >= i)``, built from
    differentiable ops (O(n^2) along ``axis``) so the second derivative at zeros is right."""
    shape, n = tuple(a.shape), a.shape[axis]
    inner = shape[:axis] + (1,) + shape[axis:]
    big = shape[:axis] + (n,) + shape[axis:]
    square = (1,) * axis + (n, n) + (1,) * (len(shape) - axis - 1)
    others = xp.where(
        np.eye(n, dtype=bool).reshape(square), 1.0, xp.expand(xp.reshape(a, inner), big)
    )
    products = xp.cumprod(others, axis + 1)
    upper = np.triu(np.ones((n, n), dtype=bool)).reshape(square)
    terms = xp.where(upper, xp.expand(xp.reshape(g, inner), big) * products, 0.0)
    return xp.sum(terms, (axis + 1,), False)


class Cummax(Picked):
    """``cummax(dim)``: the gradient goes to the running maximum's index."""

    node_name = "CummaxBackward0"
    accumulate = True


class Cummin(Picked):
    """``cummin(dim)``."""

    node_name = "CumminBackward0"
    accumulate = True


def _running_indices(data: np.ndarray, axis: int, better: Callable[..., Any]) -> np.ndarray:
    """Index of the running extreme: a later tie or a NaN takes over, as torch's kernel."""
    if not data.ndim:
        return np.zeros((), np.int64)
    moved = np.moveaxis(data, axis, 0)
    idx = np.zeros(moved.shape, np.int64)
    if not moved.size:
        return np.moveaxis(idx, 0, axis)
    best, current = moved[0], np.zeros(moved.shape[1:], np.int64)
    for i, x in enumerate(moved):
        wins = better(x, best) | (x != x)
        best = np.where(wins, x, best)
        current = np.where(wins, i, current)
        idx[i] = current
    return np.moveaxis(idx, 0, axis)


class Logcumsumexp(Op):
    """NOTE: a primitive (not exp/cumsum/log) for stability; backward as torch's, in log
    space with the positive and negative parts of the gradient apart."""

    node_name = "LogcumsumexpBackward0"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        if not a.ndim:
            return a.copy()
        with np.errstate(invalid="ignore"):  # NaN in, NaN out, silently, as torch
            return np.logaddexp.accumulate(a, axis=axis)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        axis = self.axis
        if not len(g.shape):
            return (g,)
        lowest = np.finfo(self._dtype).min
        log_abs = xp.log(xp.abs(g))
        parts = [xp.where(mask, log_abs, lowest) - out for mask in (g > 0, g < 0)]
        pos, neg = (flip(xp, _logcumsumexp(flip(xp, p, axis), axis), axis) for p in parts)
        return (xp.exp(pos + a) - xp.exp(neg + a),)


# ------------------------------------------------- Tensor methods and functions


def _scan_samples(make: Callable[..., Array] = normal) -> Callable[..., list[Sample]]:
    def samples(rng: np.random.Generator) -> list[Sample]:
        return [
            Sample((make(rng, (3, 4)),), "dim=1", {"dim": 1}),
            Sample((make(rng, (3, 4)),), "dim=0", {"dim": 0}),
            Sample((make(rng, (2, 3, 4)),), "dim=-2", {"dim": -2}),
            Sample((make(rng, (5,)),), "vector", {"dim": 0}),
            Sample((make(rng, ()),), "0-d", {"dim": -1}),
            Sample((make(rng, (3, 1)),), "size-1 dim", {"dim": 1}),
        ]

    return samples


def _np_scan(fn: Callable[..., Array]) -> Callable[..., Array]:
    def ref(a: Array, dim: int) -> Array:
        return a.copy() if not a.ndim else fn(a, axis=dim)

    return ref


def _scan(op: Op, t: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Run a scan; ``dtype``: computed in it (no cast node, as torch); integer and bool
    inputs are computed in int64."""
    axis = _dim_arg(dim, t.ndim, type(op).__name__)
    data = t._data
    if dtype is not None:
        data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
    elif data.dtype.kind in "bui":
        data = data.astype(np.int64)
    return _run_op(op, (t,), (data,), axis=axis)


def _dim_arg(dim: Any, ndim: int, node_name: str) -> int:
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool):
        name = node_name.replace("Backward0", "").lower()
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    return normalize_dim(dim, ndim)


@declare(
    tests=[
        OpInfo(
            "cumsum",
            "CumsumBackward0",
            lambda ns, a, **kw: a.cumsum(**kw),
            _np_scan(np.cumsum),
            _scan_samples(),
        )
    ]
)
@numpy_names
def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim`` (integer and bool inputs sum in int64)."""
    return _scan(Cumsum(), self, dim, dtype)


@declare(
    tests=[
        OpInfo(
            "cumprod",
            "CumprodBackward0",
            lambda ns, a, **kw: a.cumprod(**kw),
            _np_scan(np.cumprod),
            _scan_samples(positive),
        )
    ]
)
@numpy_names
def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
    """Running product along ``dim``; exact gradient where the input has zeros."""
    return _scan(Cumprod(), self, dim, dtype)


@declare(function=False)
@numpy_names
def cumsum_(self, dim: int, *, dtype: Any = None) -> Tensor:
    """``cumsum`` in place."""
    axis = _inplace_scan_args(self, dim, dtype, "cumsum")
    return _inplace(self, _cumsum_kernel, lambda t, ax: t.cumsum(ax), axis)


@declare(function=False)
@numpy_names
def cumprod_(self, dim: int, *, dtype: Any = None) -> Tensor:
    """``cumprod`` in place."""
    axis = _inplace_scan_args(self, dim, dtype, "cumprod")
    return _inplace(self, _cumprod_kernel, lambda t, ax: t.cumprod(ax), axis)


_TORCH_NAMES = {"float32": "float", "float64": "double", "int64": "long", "int32": "int"}


def _inplace_scan_args(t: Tensor, dim: int, dtype: Any, name: str) -> int:
    if t._data.dtype == np.bool_:
        raise NotImplementedError(f"\"{name}_out_cpu\" not implemented for 'Bool'")
    if dtype is not None:
        wanted = _dtypes.to_numpy_dtype(dtype)
        if wanted != t._data.dtype:
            mine, theirs = (_TORCH_NAMES.get(d.name, d.name) for d in (t._data.dtype, wanted))
            raise RuntimeError(
                f"Bad in-place call: input tensor dtype {mine} and output tensor dtype {theirs} "
                "should match"
            )
    return _dim_arg(dim, t.ndim, name + "Backward0")


def _cumsum_kernel(a: np.ndarray, axis: int, out: np.ndarray) -> None:
    if a.ndim:
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(out, np.cumsum(a, axis=axis, dtype=_accumulator(a)), casting="unsafe")


def _cumprod_kernel(a: np.ndarray, axis: int, out: np.ndarray) -> None:
    if a.ndim:
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(out, np.cumprod(a, axis=axis, dtype=_accumulator(a)), casting="unsafe")


def _np_running(fn: Callable[..., Array]) -> Callable[..., Array]:
    return _np_scan(lambda a, axis: fn.accumulate(a, axis=axis))


@declare(
    tests=[
        OpInfo(
            "cummax",
            "CummaxBackward0",
            lambda ns, a, **kw: a.cummax(**kw).values,
            _np_running(np.maximum),
            _scan_samples(),
        )
    ]
)
@numpy_names
def cummax(self, dim: int) -> Any:
    """``(values, indices)`` of the running maximum along ``dim`` (a later tie takes the
    index, as torch)."""
    return _running(self, dim, Cummax(), np.greater_equal, CummaxResult)


@declare(
    tests=[
        OpInfo(
            "cummin",
            "CumminBackward0",
            lambda ns, a, **kw: a.cummin(**kw).values,
            _np_running(np.minimum),
            _scan_samples(),
        )
    ]
)
@numpy_names
def cummin(self, dim: int) -> Any:
    """``(values, indices)`` of the running minimum along ``dim``."""
    return _running(self, dim, Cummin(), np.less_equal, CumminResult)


def _running(t: Tensor, dim: int, op: Picked, better: Any, result: type) -> Any:
    axis = _dim_arg(dim, t.ndim, op.node_name)
    idx = _running_indices(t._data, axis, better)
    values = _run_op(op, (t,), (t._data,), axis=axis, indices=idx, keepdim=True)
    return result(values, _wrap(idx))


@declare(
    tests=[
        OpInfo(
            "logcumsumexp",
            "LogcumsumexpBackward0",
            lambda ns, a, **kw: a.logcumsumexp(**kw),
            _np_scan(np.logaddexp.accumulate),
            _scan_samples(),
        )
    ]
)
@numpy_names
def logcumsumexp(self, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, computed stably."""
    if self._data.dtype.kind != _FLOAT_KIND:
        kind = _scalar_type_name(self._data.dtype)
        raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for '{kind}'")
    axis = _dim_arg(dim, self.ndim, "LogcumsumexpBackward0")
    return _run_op(Logcumsumexp(), (self,), (self._data,), axis=axis)
