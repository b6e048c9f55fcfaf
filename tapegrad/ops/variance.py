"""Spread: var, std, and torch's one-node pairs var_mean and std_mean."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tapegrad._dtypes import _FLOAT_KIND
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import _expand_back, numpy_names
from tapegrad.ops.samples import Array, OpInfo, Sample, normal
from tapegrad.ops.statistics import PairOp, reduce_axes, run_pair
from tapegrad.promotion import _as_tensor
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor


class Var(Op):
    """``var(dim, correction, keepdim)``: sum of squared deviations over ``count - correction``."""

    node_name = "VarBackward0"
    saves = (0,)

    def forward(
        self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, correction: float
    ) -> np.ndarray:
        self.axes, self.keepdim = axes, keepdim
        self.count = int(np.prod([a.shape[i] for i in axes]))
        self.dof = max(self.count - correction, 0)
        with np.errstate(all="ignore"):
            centered = a - a.mean(axis=axes, keepdims=True) if a.size else a
            self.mean = a.mean(axis=axes, keepdims=keepdim) if a.size else None
            total = (centered * centered).sum(axis=axes, keepdims=keepdim)
            return np.asarray(total / a.dtype.type(self.dof))

    def _var_grad(self, xp: Any, g: Any, a: Any) -> Any:
        shape = tuple(a.shape)
        g = _expand_back(xp, g, shape, self.axes, self.keepdim)
        mean = xp.sum(a, self.axes, True) / max(self.count, 1)
        return g * (2.0 / self.dof if self.dof else np.inf) * (a - mean)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (self._var_grad(xp, g, a),)


class Std(Var):
    """std'(x) = var'(x) / (2 std), and 0 where std is 0, as torch."""

    node_name = "StdBackward0"
    saves = (0, OUT)

    def forward(
        self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, correction: float
    ) -> np.ndarray:
        return np.sqrt(super().forward(a, axes, keepdim, correction))

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        return (self._var_grad(xp, _std_scale(xp, g, out), a),)


def _std_scale(xp: Any, g: Any, out: Any) -> Any:
    return xp.where(out == 0, 0.0, g / (out * 2))


class VarMean(PairOp, Var):
    """``var_mean``: the variance and the mean on one node."""

    node_name = "VarMeanBackward0"

    def forward(
        self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, correction: float
    ) -> np.ndarray:
        var = Var.forward(self, a, axes, keepdim, correction)
        mean = self.mean if self.mean is not None else np.full(var.shape, np.nan, a.dtype)
        self.mean = None
        return self._pair(var, np.asarray(mean))

    def backward(self, xp: Any, g: Any, a: Any, *out: Any) -> tuple[Any, ...]:
        g_first, g_mean = g
        grad = None if g_first is None else self._first_grad(xp, g_first, a, *out)
        if g_mean is not None:
            shape = tuple(a.shape)
            from_mean = _expand_back(
                xp, g_mean / max(self.count, 1), shape, self.axes, self.keepdim
            )
            grad = from_mean if grad is None else grad + from_mean
        return (grad,)

    def _first_grad(self, xp: Any, g: Any, a: Any, *out: Any) -> Any:
        return self._var_grad(xp, g, a)


class StdMean(VarMean):
    """``std_mean``: the standard deviation and the mean on one node."""

    node_name = "StdMeanBackward0"
    saves = (0, OUT)

    def forward(
        self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, correction: float
    ) -> np.ndarray:
        return np.sqrt(super().forward(a, axes, keepdim, correction))

    def _first_grad(self, xp: Any, g: Any, a: Any, *out: Any) -> Any:
        return self._var_grad(xp, _std_scale(xp, g, out[0]), a)


def _var_call(
    name: str, op: Var, t: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any
) -> Any:
    """Check a var/std call's arguments as torch's overloads do, then run ``op``."""
    if isinstance(dim, bool):  # var(True): the unbiased overload
        dim, unbiased = None, dim
    if unbiased is not None and not isinstance(unbiased, bool):
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got "
            f"unbiased={type(unbiased).__name__}, expected bool"
        )
    if unbiased is not None and correction is not None:
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got both 'unbiased' and "
            "'correction'"
        )
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if t._data.dtype.kind != _FLOAT_KIND:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    axes = reduce_axes(dim, t.ndim)
    count = int(np.prod([t.shape[i] for i in axes]))
    if count - correction <= 0:
        warnings.warn(
            f"{name.split('_')[0]}(): degrees of freedom is <= 0. Correction should be strictly "
            "less than the reduction factor (input numel divided by output numel).",
            UserWarning,
            stacklevel=4,
        )
    meta = {"axes": axes, "keepdim": keepdim, "correction": correction}
    if isinstance(op, PairOp):
        return run_pair(op, (t,), (t._data,), **meta)
    return _run_op(op, (t,), (t._data,), **meta)


def _np_var(ddof: int, root: bool = False) -> Any:
    def ref(
        a: Array, dim: Any = None, keepdim: bool = False, correction: Any = None, **_: Any
    ) -> Array:
        axis = None if dim is None else dim
        out = np.var(
            a, axis=axis, keepdims=keepdim, ddof=ddof if correction is None else correction
        )
        return np.sqrt(out) if root else out

    return ref


def _var_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((normal(rng, (3, 4)),), "whole"),
        Sample((normal(rng, (3, 4)),), "dim=1", {"dim": 1}),
        Sample((normal(rng, (2, 3, 4)),), "dim=(0,2) keepdim", {"dim": (0, 2), "keepdim": True}),
        Sample((normal(rng, (3, 4)),), "dim=-1 correction=0", {"dim": -1, "correction": 0}),
        Sample((normal(rng, (5,)),), "vector correction=2", {"correction": 2}),
        Sample((normal(rng, (3, 1)),), "size-1 dim=0", {"dim": 0}),
    ]


@declare(
    tests=[
        OpInfo("var", "VarBackward0", lambda ns, a, **kw: a.var(**kw), _np_var(1), _var_samples),
    ]
)
@numpy_names
def var(
    self,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Variance over ``dim`` (int or tuple; all when None), with ``correction`` (default 1,
    Bessel's) or the older ``unbiased``."""
    return _var_call("var", Var(), self, dim, unbiased, keepdim, correction)


@declare(
    tests=[
        OpInfo(
            "std", "StdBackward0", lambda ns, a, **kw: a.std(**kw), _np_var(1, True), _var_samples
        ),
    ]
)
@numpy_names
def std(
    self,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Standard deviation over ``dim``; its gradient is 0 where it is 0, as torch."""
    return _var_call("std", Std(), self, dim, unbiased, keepdim, correction)


def _pair_sum(name: str) -> Any:
    """Registry form of a two-output function: both outputs in one differentiable result."""

    def fn(ns: Any, a: Any, **kw: Any) -> Any:
        first, second = getattr(ns, name)(a, **kw)
        return first * 2 + second * 3

    return fn


def _np_pair_sum(first: Any, second: Any) -> Any:
    return lambda a, **kw: first(a, **kw) * 2 + second(a, **kw) * 3


def _np_mean(a: Array, dim: Any = None, keepdim: bool = False, **_: Any) -> Array:
    return np.mean(a, axis=dim, keepdims=keepdim)


@declare(
    method=False,
    tests=[
        OpInfo(
            "var_mean",
            "AddBackward0",
            _pair_sum("var_mean"),
            _np_pair_sum(_np_var(1), _np_mean),
            _var_samples,
        ),
    ],
)
@numpy_names
def var_mean(
    input: Any,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,  # noqa: A002
) -> tuple:
    """``(var, mean)`` over ``dim``, on one ``VarMeanBackward0`` node (no Tensor method)."""
    return _var_call("var_mean", VarMean(), _as_tensor(input), dim, unbiased, keepdim, correction)


@declare(
    method=False,
    tests=[
        OpInfo(
            "std_mean",
            "AddBackward0",
            _pair_sum("std_mean"),
            _np_pair_sum(_np_var(1, True), _np_mean),
            _var_samples,
        ),
    ],
)
@numpy_names
def std_mean(
    input: Any,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,  # noqa: A002
) -> tuple:
    """``(std, mean)`` over ``dim``, on one ``StdMeanBackward0`` node (no Tensor method)."""
    return _var_call("std_mean", StdMean(), _as_tensor(input), dim, unbiased, keepdim, correction)
