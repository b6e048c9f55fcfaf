"""Whole-tensor and per-dim statistics: all, any, prod, amax, amin, aminmax (var and std are
in ``ops/variance.py``, norm in ``ops/norms.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import normalize_dim, normalize_dims
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import _expand_back, numpy_names, return_type
from tapegrad.ops.samples import OpInfo, Sample, np_reduce, positive
from tapegrad.ops.scan import exclusive_cumprod, flip, raw
from tapegrad.ops.sorting import _distinct
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

AminmaxResult = return_type("aminmax", "min", "max")


def reduce_axes(dim: Any, ndim: int) -> tuple[int, ...]:
    """The axes a ``dim`` argument names: all of them for None or ``()``, as torch's
    reductions (all/any aside)."""
    if dim is None:
        return tuple(range(ndim))
    return normalize_dims(dim, ndim) or tuple(range(ndim))


class PairOp(Op):
    """One node with two outputs (torch's ``VarMeanBackward0``, ``AminmaxBackward0``):
    ``forward`` returns the first and leaves the second in ``self.second``; ``backward``
    gets a gradient, or None, for each."""

    _n_out = 2

    def _meta(self, index: int) -> tuple[tuple[int, ...], np.dtype]:
        return self._out_meta[index]

    def _pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        self.second = second
        self._out_meta = ((first.shape, first.dtype), (second.shape, second.dtype))
        return first


def run_pair(op: PairOp, inputs: tuple[Any, ...], arrays: tuple[Any, ...], **meta: Any) -> tuple:
    """Both outputs of a ``PairOp`` as Tensors on its node (outputs 0 and 1)."""
    first = _run_op(op, inputs, arrays, **meta)
    second, op.second = op.second, None
    recorded = first.grad_fn is op
    return first, _wrap(second, op if recorded else None, 1)


# ----------------------------------------------------------------- all and any


def _truth(self: Tensor, dim: Any, keepdim: bool, reduce: Any) -> Tensor:
    axes = None if dim is None else normalize_dims(dim, self.ndim)  # () reduces nothing
    out = reduce(self._data, axis=axes, keepdims=keepdim)
    return _wrap(np.asarray(out, dtype=np.uint8 if self._data.dtype == np.uint8 else np.bool_))


@declare(name="all")
@numpy_names
def tensor_all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether every element (along ``dim``, an int or tuple) is nonzero; uint8 stays uint8,
    anything else gives bool. ``dim=()`` reduces nothing, as torch."""
    return _truth(self, dim, keepdim, np.all)


@declare(name="any")
@numpy_names
def tensor_any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether any element (along ``dim``) is nonzero."""
    return _truth(self, dim, keepdim, np.any)


# ------------------------------------------------------------------------ prod


class Prod(Op):
    """``prod()`` (``axis`` None) or ``prod(dim)``: exact gradient with zeros in the input
    (a single zero gets the product of the others; with two, every gradient is 0)."""

    node_name = "ProdBackward0"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, axis: int | None, keepdim: bool) -> np.ndarray:
        self.axis, self.keepdim = axis, keepdim
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN silently, as torch
            return np.prod(a, axis=axis, keepdims=keepdim, dtype=a.dtype)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        shape = tuple(a.shape)
        if self.axis is None:
            g, out = xp.expand(g, shape), xp.expand(out, shape)
        elif len(shape):
            g = _expand_back(xp, g, shape, (self.axis,), self.keepdim)
            out = _expand_back(xp, out, shape, (self.axis,), self.keepdim)
        if not (raw(a) == 0).any():
            return (g * out / a,)
        return (g * _others_product(xp, a, self.axis),)


class ProdDim(Prod):
    """``prod(dim, keepdim)``."""

    node_name = "ProdBackward1"


def _others_product(xp: Any, a: Any, axis: int | None) -> Any:
    """``prod(a[j] for j != i)`` along ``axis`` (everything when None), without dividing."""
    shape = tuple(a.shape)
    if axis is None or not len(shape):
        flat = xp.reshape(a, (-1,))
        return xp.reshape(_others_product(xp, flat, 0), shape)
    left = exclusive_cumprod(xp, a, axis)
    return left * flip(xp, exclusive_cumprod(xp, flip(xp, a, axis), axis), axis)


@declare(
    tests=[
        OpInfo(
            "prod",
            "ProdBackward0",
            lambda ns, a: a.prod(),
            np.prod,
            lambda rng: [
                Sample((positive(rng, (3, 4)),), "matrix"),
                Sample((-positive(rng, (5,)),), "negative vector"),
                Sample((positive(rng, ()),), "0-d"),
            ],
        ),
        OpInfo(
            "prod_dim",
            "ProdBackward1",
            lambda ns, a, **kw: a.prod(**kw),
            np_reduce(np.prod),
            lambda rng: [
                Sample((positive(rng, (3, 4)),), "dim=1", {"dim": 1}),
                Sample(
                    (positive(rng, (3, 4)) - 2.5,), "dim=0 keepdim", {"dim": 0, "keepdim": True}
                ),
                Sample((positive(rng, (2, 3, 4)),), "dim=-2", {"dim": -2}),
                Sample((positive(rng, ()),), "0-d dim=0", {"dim": 0}),
                Sample((positive(rng, (3, 1)),), "size-1 dim", {"dim": 1}),
            ],
        ),
    ]
)
@numpy_names
def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Product of all elements, or along ``dim`` (an int); integer and bool inputs give
    int64; ``dtype``: computed in it."""
    data = self._data
    if dtype is not None:
        data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
    elif data.dtype.kind in "bui":
        data = data.astype(np.int64)
    if dim is None:
        if keepdim:
            raise TypeError(
                "prod() received an invalid combination of arguments - got (keepdim=bool, ), but "
                "expected one of:\n * (*, torch.dtype dtype = None)\n * (int dim, bool keepdim = "
                "False, *, torch.dtype dtype = None)\n"
            )
        return _run_op(Prod(), (self,), (data,), axis=None, keepdim=False)
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool):
        raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__}")
    axis = normalize_dim(dim, self.ndim)
    return _run_op(ProdDim(), (self,), (data,), axis=axis if self.ndim else None, keepdim=keepdim)


# -------------------------------------------------------- amax, amin, aminmax


class Amax(Op):
    """``amax(dim)``: tied maxima share the gradient evenly, as torch."""

    node_name = "AmaxBackward0"
    saves = (0, OUT)
    _reduce = staticmethod(np.max)

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.axes, self.keepdim = axes, keepdim
        return np.asarray(self._reduce(a, axis=axes, keepdims=keepdim))

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        return (_share_among_ties(xp, g, a, out, self.axes, self.keepdim),)


class Amin(Amax):
    """``amin(dim)``: tied minima share the gradient evenly."""

    node_name = "AminBackward0"
    _reduce = staticmethod(np.min)


def _share_among_ties(
    xp: Any, g: Any, a: Any, out: Any, axes: tuple[int, ...], keepdim: bool
) -> Any:
    """``g`` split evenly among the elements equal to the result."""
    ad, od = raw(a), raw(out)
    mask = ad == (od if keepdim else np.expand_dims(od, axes))
    count = mask.sum(axis=axes, keepdims=True)
    return xp.where(mask, _expand_back(xp, g, ad.shape, axes, keepdim) / count, 0.0)


def _extreme_axes(t: Tensor, dim: Any, name: str) -> tuple[int, ...]:
    """The axes of amax/amin/aminmax, with torch's errors for empty reductions."""
    axes = reduce_axes(dim, t.ndim)
    if t._data.size == 0:
        if dim is None or dim == ():
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        for axis in axes:
            if t.shape[axis] == 0:
                raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    return axes


def _amax_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_distinct(rng, (3, 4)),), "whole"),
        Sample((_distinct(rng, (3, 4)),), "dim=1", {"dim": 1}),
        Sample(
            (_distinct(rng, (2, 3, 4)),), "dim=(0,-1) keepdim", {"dim": (0, -1), "keepdim": True}
        ),
        Sample((_distinct(rng, ()),), "0-d"),
        Sample((_distinct(rng, (3, 1)),), "size-1 dim=1", {"dim": 1}),
    ]


@declare(
    tests=[
        OpInfo(
            "amax",
            "AmaxBackward0",
            lambda ns, a, **kw: a.amax(**kw),
            np_reduce(np.max),
            _amax_samples,
        )
    ]
)
@numpy_names
def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (int or tuple; all when ``()``); ties share the gradient."""
    axes = _extreme_axes(self, dim, "amax")
    return _run_op(Amax(), (self,), (self._data,), axes=axes, keepdim=keepdim)


@declare(
    tests=[
        OpInfo(
            "amin",
            "AminBackward0",
            lambda ns, a, **kw: a.amin(**kw),
            np_reduce(np.min),
            _amax_samples,
        )
    ]
)
@numpy_names
def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (int or tuple; all when ``()``); ties share the gradient."""
    axes = _extreme_axes(self, dim, "amin")
    return _run_op(Amin(), (self,), (self._data,), axes=axes, keepdim=keepdim)


class Aminmax(PairOp):
    """``aminmax()``: min and max on one node; ties share each gradient evenly."""

    node_name = "AminmaxBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.axes, self.keepdim = axes, keepdim
        low = np.asarray(np.min(a, axis=axes, keepdims=keepdim))
        return self._pair(low, np.asarray(np.max(a, axis=axes, keepdims=keepdim)))

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        grad = None
        for part, value in zip(g, (self._out_low, self._out_high)):
            if part is not None:
                share = _share_among_ties(xp, part, a, value, self.axes, self.keepdim)
                grad = share if grad is None else grad + share
        return (grad,)

    def _pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        self._out_low, self._out_high = first, second  # constants for backward (no grad)
        return super()._pair(first, second)


@declare(
    tests=[
        OpInfo(
            "aminmax",
            "AddBackward0",
            lambda ns, a, **kw: a.aminmax(**kw)[0] * 2 + a.aminmax(**kw)[1] * 3,
            lambda a, dim=None, keepdim=False: (
                np.min(a, axis=dim, keepdims=keepdim) * 2
                + np.max(a, axis=dim, keepdims=keepdim) * 3
            ),
            lambda rng: [
                Sample((_distinct(rng, (3, 4)),), "whole"),
                Sample((_distinct(rng, (3, 4)),), "dim=1", {"dim": 1}),
                Sample((_distinct(rng, (2, 3)),), "dim=-2 keepdim", {"dim": -2, "keepdim": True}),
                Sample((_distinct(rng, ()),), "0-d"),
            ],
        )
    ]
)
@numpy_names
def aminmax(self, *, dim: int | None = None, keepdim: bool = False) -> Any:
    """``(min, max)`` of everything or along ``dim`` (an int), on one node."""
    if dim is not None and (not isinstance(dim, int | np.integer) or isinstance(dim, bool)):
        raise TypeError(f"aminmax(): argument 'dim' must be int, not {type(dim).__name__}")
    if self._data.size == 0 and dim is None:
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
            "identity."
        )
    axes = reduce_axes(dim, self.ndim)
    for axis in axes if dim is not None else ():
        if self.shape[axis] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {axis} to have non-zero size.")
    return AminmaxResult(*run_pair(Aminmax(), (self,), (self._data,), axes=axes, keepdim=keepdim))
