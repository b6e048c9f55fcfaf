"""Vector norms: ``norm(p, dim, keepdim, dtype)``, as torch's ``linalg.vector_norm``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._dtypes import _FLOAT_KIND, _scalar_type_name
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import _expand_back
from tapegrad.ops.samples import Array, OpInfo, Sample, away_from_zero, normal
from tapegrad.ops.scan import raw
from tapegrad.ops.statistics import reduce_axes
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class VectorNorm(Op):
    """``(sum |x|^p)^(1/p)`` over ``axes``; inf/-inf: max/min of ``|x|``; 0: the count of
    nonzeros. Gradients as torch's: 0 where the norm is 0, ties of the inf norms share."""

    node_name = "LinalgVectorNormBackward0"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, p: float, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.p, self.axes, self.keepdim = p, axes, keepdim
        with np.errstate(all="ignore"):
            return np.asarray(_norm(np.abs(a), p, axes, keepdim), dtype=a.dtype)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        p, shape = self.p, tuple(a.shape)
        if p == 0:
            return (None,)
        g = _expand_back(xp, g, shape, self.axes, self.keepdim)
        out = _expand_back(xp, out, shape, self.axes, self.keepdim)
        if p == 1:
            return (xp.sign(a) * g,)
        if p == 2:
            return (a * xp.where(out == 0, 0.0, g / out),)
        if math.isinf(p):
            ad = raw(a)
            mask = (np.abs(ad) == raw(out)) | np.isnan(ad)
            count = mask.sum(axis=self.axes, keepdims=True)
            return (xp.sign(a) * xp.where(mask, g / count, 0.0),)
        if p < 1:
            scaled = xp.sign(a) * xp.where(a == 0, 0.0, xp.pow(xp.abs(a), p - 1))
            return (scaled * g * xp.pow(out, 1 - p),)
        scale = xp.where(out == 0, 0.0, g / xp.pow(out, p - 1))
        if p < 2:
            return (xp.sign(a) * xp.pow(xp.abs(a), p - 1) * scale,)
        return (a * xp.pow(xp.abs(a), p - 2) * scale,)


def _norm(absa: np.ndarray, p: float, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
    if p == math.inf:
        return absa.max(axis=axes, keepdims=keepdim)
    if p == -math.inf:
        return absa.min(axis=axes, keepdims=keepdim)
    if p == 0:
        return (absa != 0).sum(axis=axes, keepdims=keepdim)
    if p == 1:
        return absa.sum(axis=axes, keepdims=keepdim)
    if p == 2:
        return np.sqrt((absa * absa).sum(axis=axes, keepdims=keepdim))
    return ((absa**p).sum(axis=axes, keepdims=keepdim)) ** (1 / p)


# ------------------------------------------------- Tensor methods and functions


def _np_norm(a: Array, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Array:
    order = 2.0 if p in ("fro", None) else float(p)
    axes = tuple(range(a.ndim)) if dim is None else dim if isinstance(dim, tuple) else (dim,)
    return _norm(
        np.abs(a), order, tuple(d % max(a.ndim, 1) for d in axes) if a.ndim else (), keepdim
    )


def _norm_samples(rng: np.random.Generator) -> list[Sample]:
    inf = float("inf")
    return [
        Sample((normal(rng, (3, 4)),), "whole 2-norm", {}),
        Sample((normal(rng, (3, 4)),), "p=1 dim=1", {"p": 1, "dim": 1}),
        Sample(
            (normal(rng, (2, 3, 4)),),
            "fro dim=(0,2) keepdim",
            {"p": "fro", "dim": (0, 2), "keepdim": True},
        ),
        Sample((normal(rng, (3, 4)),), "p=inf dim=-1", {"p": inf, "dim": -1}),
        Sample((normal(rng, (3, 4)),), "p=-inf dim=0", {"p": -inf, "dim": 0}),
        Sample((normal(rng, (3, 4)),), "p=3 dim=1", {"p": 3.0, "dim": 1}),
        Sample((away_from_zero(rng, (5,)),), "p=1.5", {"p": 1.5}),
        Sample((away_from_zero(rng, (5,)),), "p=0.5", {"p": 0.5}),
        Sample((normal(rng, ()),), "0-d", {}),
        Sample((normal(rng, (3, 1)),), "size-1 dim=1", {"dim": 1}),
    ]


@declare(
    tests=[
        OpInfo(
            "norm",
            "LinalgVectorNormBackward0",
            lambda ns, a, **kw: a.norm(**kw),
            _np_norm,
            _norm_samples,
        )
    ]
)
def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """The vector ``p``-norm over ``dim`` (int or tuple; all when None): ``p`` a number,
    inf, -inf, or ``'fro'``/None for 2. torch's nuclear norm (``'nuc'``) is not supported."""
    order = _order(p, dim)
    if self._data.dtype.kind != _FLOAT_KIND:
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{_scalar_type_name(self._data.dtype)}"
        )
    data = self._data
    if dtype is not None:
        data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
    axes = reduce_axes(dim, self.ndim)
    _check_identity(self, order, dim, axes)
    return _run_op(VectorNorm(), (self,), (data,), p=order, axes=axes, keepdim=keepdim)


def _order(p: Any, dim: Any) -> float:
    if p is None:
        return 2.0
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return 2.0
        if p == "nuc":
            raise NotImplementedError("tapegrad: the nuclear norm (p='nuc') is not supported")
        if p == "fro":
            got = " ".join(str(d) for d in dim)
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {got}")
        raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    return float(p)


def _check_identity(t: Tensor, p: float, dim: Any, axes: tuple[int, ...]) -> None:
    """torch's errors for the inf norms (no identity) over something empty."""
    if not math.isinf(p) or t._data.size:
        return
    name = "inf" if p > 0 else "-inf"
    if dim is None:
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the {name} norm on an empty tensor because the "
            "operation does not have an identity"
        )
    for axis in axes:
        if t.shape[axis] == 0:
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {name} norm on the dimension {axis}"
                "because this dimension is empty and the operation does not have an identity"
            )
