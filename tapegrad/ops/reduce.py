"""Reductions: sum, mean, max and min (whole, along dims, pairwise) and argmax/argmin."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import _shape_arg, normalize_dim, normalize_dims, sum_array
from tapegrad._dtypes import _FLOAT_KIND, _scalar_type_name
from tapegrad.ops.base import OUT, HoldingOp, Op
from tapegrad.ops.compare import Maximum, Minimum
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, Sample, normal, np_reduce, reduce_samples, whole_samples
from tapegrad.promotion import _binary
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(
    xp: Any, g: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdim: bool
) -> Any:
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdim:
        g = xp.reshape(g, _kept_shape(shape, axes))
    return xp.expand(g, shape)


def _mean_all(a: np.ndarray) -> np.ndarray:
    """The mean of every element: np.mean's arithmetic (sum / size) without its Python-level
    overhead; NaN when empty."""
    return sum_array(a) / a.dtype.type(a.size) if a.size else np.array(np.nan, dtype=a.dtype)


_NUMPY_NAMES = (("axis", "dim"), ("keepdims", "keepdim"))


def numpy_names(impl: Callable[..., Any]) -> Callable[..., Any]:
    """Accept numpy's ``axis=``/``keepdims=`` for ``dim=``/``keepdim=``, as torch's argument
    parser does for every function with those arguments; both spellings at once is an error."""
    params = inspect.signature(impl).parameters
    aliases = tuple((alias, name) for alias, name in _NUMPY_NAMES if name in params)

    @functools.wraps(impl)
    def accept(self: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            for alias, name in aliases:
                if alias in kwargs:
                    if name in kwargs:
                        raise TypeError(
                            f"{accept.__name__}() got an unexpected keyword argument '{alias}'"
                        )
                    kwargs[name] = kwargs.pop(alias)
        return impl(self, *args, **kwargs)

    return accept


def return_type(name: str, first: str = "values", second: str = "indices") -> type[tuple]:
    """torch's ``return_types.<name>``: a pair that unpacks like a tuple and names its parts
    (``values``/``indices``, or ``min``/``max`` for aminmax)."""

    def __new__(cls: type, a: Tensor, b: Tensor) -> Any:  # noqa: N807
        return tuple.__new__(cls, (a, b))

    def __repr__(self: tuple) -> str:  # noqa: N807
        return f"tapegrad.return_types.{name}(\n{first}={self[0]!r},\n{second}={self[1]!r})"

    namespace = {
        "__slots__": (),
        "__new__": __new__,
        "__repr__": __repr__,
        "__str__": __repr__,
        "__doc__": f"``({first}, {second})`` as returned by ``{name}``.",
        first: property(lambda self: self[0]),
        second: property(lambda self: self[1]),
    }
    return type(name, (tuple,), namespace)


# -------------------------------------------------------------------------- ops


class Sum(Op):
    """``sum()`` over everything."""

    node_name = "SumBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return sum_array(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.expand(g, self.shape),)


class SumDim(Op):
    """``sum(dim, keepdim)``."""

    node_name = "SumBackward1"

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return sum_array(a, axes, keepdim)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (_expand_back(xp, g, self.shape, self.axes, self.keepdim),)


class SumToSize(Op):
    """``sum_to_size(shape)``: undo broadcasting (used by the engine when recording)."""

    node_name = "SumBackward1"

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        from tapegrad._array import sum_to

        self.shape = a.shape
        return sum_to(a, shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.expand(g, self.shape),)


class Mean(Op):
    node_name = "MeanBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return _mean_all(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.expand(g / max(int(np.prod(self.shape)), 1), self.shape),)


class MeanDim(Op):
    node_name = "MeanBackward1"

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = int(np.prod([a.shape[i] for i in axes]))
        # np.mean's arithmetic (sum, then divide by the count), as _mean_all
        return sum_array(a, axes, keepdim) / a.dtype.type(self.count)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (_expand_back(xp, g / max(self.count, 1), self.shape, self.axes, self.keepdim),)


class Max(Op):
    """``max()`` of everything: tied maxima share the gradient evenly, as PyTorch."""

    __slots__ = ()
    node_name = "MaxBackward1"
    saves = (0, OUT)
    _reduce = staticmethod(np.max)

    def forward(self, a: np.ndarray) -> np.ndarray:
        if a.size == 0:
            raise RuntimeError(
                f"{self.node_name[:3].lower()}(): Expected reduction dim to be specified for "
                "input.numel() == 0. Specify the reduction dim with the 'dim' argument."
            )
        return self._reduce(a)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        # a NaN result came from the NaN elements: they share the gradient, as torch
        mask = (a == out) | ((a != a) & (out != out))
        return (xp.where(mask, g / mask.sum(), 0),)


class Min(Max):
    __slots__ = ()
    node_name = "MinBackward1"
    _reduce = staticmethod(np.min)


class MaxDim(HoldingOp):
    """``max(dim)``: the gradient goes to the returned index only, as PyTorch."""

    node_name = "MaxBackward0"
    held = ("indices",)
    _arg = staticmethod(np.argmax)

    def forward(self, a: np.ndarray, axis: int, keepdim: bool) -> np.ndarray:
        if a.shape and a.shape[axis] == 0:
            raise IndexError(
                f"{self.node_name[:3].lower()}(): Expected reduction dim {axis} to have non-zero "
                "size."
            )
        self.shape, self.axis, self.keepdim = a.shape, axis, keepdim
        idx = self._arg(a, axis=axis, keepdims=True) if a.ndim else np.zeros((), np.int64)
        self.indices = idx if keepdim or not a.ndim else np.squeeze(idx, axis)
        return np.take_along_axis(a, idx, axis).reshape(np.shape(self.indices)) if a.ndim else a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if not self.shape:
            return (g,)
        axes = (self.axis,)
        size = self.shape[self.axis]
        positions = np.arange(size).reshape(
            [size if i == self.axis else 1 for i in range(len(self.shape))]
        )
        idx = self.indices if self.keepdim else np.expand_dims(self.indices, self.axis)
        onehot = positions == idx
        return (xp.where(onehot, _expand_back(xp, g, self.shape, axes, self.keepdim), 0),)


class MinDim(MaxDim):
    node_name = "MinBackward0"
    _arg = staticmethod(np.argmin)


# ------------------------------------------------- Tensor methods and functions


@declare(
    name="sum",
    tests=[
        OpInfo("sum", "SumBackward0", lambda ns, a: a.sum(), np.sum, whole_samples()),
        OpInfo(
            "sum_dim",
            "SumBackward1",
            lambda ns, a, **kw: a.sum(**kw),
            np_reduce(np.sum),
            lambda rng: (
                reduce_samples()(rng)
                + [Sample((normal(rng, (2, 3, 4)),), "dim=(0,2)", {"dim": (0, 2)})]
            ),
        ),
    ],
)
@numpy_names
def tensor_sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Sum of all elements, or over ``dim`` (int or tuple); ``dtype``: computed in it
    (no cast node; the gradient comes back in the input's dtype), as torch."""
    me, data = self, self._data
    if dtype is not None:
        data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
    elif data.dtype.kind in "bui":
        me = self.long()
        data = me._data
    if dim is None:
        return _run_op(Sum(), (me,), (data,))
    axes = normalize_dims(dim, me.ndim) or tuple(range(me.ndim))  # torch: () means all
    return _run_op(SumDim(), (me,), (data,), axes=axes, keepdim=keepdim)


@declare(
    tests=[
        OpInfo("mean", "MeanBackward0", lambda ns, a: a.mean(), np.mean, whole_samples()),
        OpInfo(
            "mean_dim",
            "MeanBackward1",
            lambda ns, a, **kw: a.mean(**kw),
            np_reduce(np.mean),
            lambda rng: (
                reduce_samples()(rng)
                + [
                    Sample(
                        (normal(rng, (2, 3, 4)),),
                        "dim=(1,2) keepdim",
                        {"dim": (1, 2), "keepdim": True},
                    )
                ]
            ),
        ),
    ]
)
@numpy_names
def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Mean of all elements, or over ``dim``; ``dtype`` as in ``sum``."""
    data = self._data
    if dtype is not None:
        data = data.astype(_dtypes.to_numpy_dtype(dtype), copy=False)
    if data.dtype.kind != _FLOAT_KIND:
        which = "Input" if dtype is None else "Optional"
        raise RuntimeError(
            f"mean(): could not infer output dtype. {which} dtype must be either a floating "
            f"point or complex dtype. Got: {_scalar_type_name(data.dtype)}"
        )
    if dim is None:
        return _run_op(Mean(), (self,), (data,))
    axes = normalize_dims(dim, self.ndim) or tuple(range(self.ndim))  # () means all
    return _run_op(MeanDim(), (self,), (data,), axes=axes, keepdim=keepdim)


@declare(
    name="max",
    tests=[
        OpInfo("max", "MaxBackward1", lambda ns, a: a.max(), np.max, whole_samples()),
        OpInfo(
            "max_dim",
            "MaxBackward0",
            lambda ns, a, **kw: a.max(**kw)[0],
            np_reduce(np.max),
            reduce_samples(),
        ),
    ],
)
@numpy_names
def tensor_max(self, dim: Any = None, keepdim: bool = False) -> Any:
    """Maximum of everything, ``(values, indices)`` along ``dim``, or ``maximum(other)``."""
    return _extreme(self, Max, MaxDim, Maximum, dim, keepdim)


@declare(
    name="min",
    tests=[
        OpInfo("min", "MinBackward1", lambda ns, a: a.min(), np.min, whole_samples()),
        OpInfo(
            "min_dim",
            "MinBackward0",
            lambda ns, a, **kw: a.min(**kw)[0],
            np_reduce(np.min),
            reduce_samples(),
        ),
    ],
)
@numpy_names
def tensor_min(self, dim: Any = None, keepdim: bool = False) -> Any:
    """Minimum of everything, ``(values, indices)`` along ``dim``, or ``minimum(other)``."""
    return _extreme(self, Min, MinDim, Minimum, dim, keepdim)


def _extreme(
    self, whole: type[Op], along: type[Op], pairwise: type[Op], dim: Any, keepdim: bool
) -> Any:
    if isinstance(dim, Tensor):
        return _binary(pairwise, self, dim)
    if dim is None:
        return _run_op(whole(), (self,), (self._data,))
    axis = normalize_dim(dim, self.ndim)
    op = along()
    values = _run_op(op, (self,), (self._data,), axis=axis, keepdim=keepdim)
    result = _Min if whole is Min else _MinMax
    return result(values, _wrap(np.asarray(op.indices, dtype=np.int64)))


@declare()
@numpy_names
def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first maximum (NaN counts as the maximum), flattened when ``dim`` is None."""
    return _arg_extreme(self, np.argmax, "argmax", dim, keepdim)


@declare()
@numpy_names
def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first minimum (NaN counts as the minimum), flattened when ``dim`` is None."""
    return _arg_extreme(self, np.argmin, "argmin", dim, keepdim)


def _arg_extreme(
    self: Tensor, find: Callable[..., Any], name: str, dim: Any, keepdim: bool
) -> Tensor:
    _refuse_bool(self, name)
    if dim is None:
        return _flat_index(self, find, name, keepdim)
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool):
        raise TypeError(
            f"{name}(): argument 'dim' (position 1) must be int, not {type(dim).__name__}"
        )
    axis = normalize_dim(dim, self.ndim)
    if not self.ndim:
        return _wrap(np.zeros((), np.int64))
    if self.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    return _wrap(np.asarray(find(self._data, axis=axis, keepdims=keepdim), dtype=np.int64))


def _flat_index(self, find: Callable[..., Any], name: str, keepdim: bool) -> Tensor:
    if not self._data.size:
        raise IndexError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
        )
    index = np.asarray(find(self._data), dtype=np.int64)
    return _wrap(index.reshape((1,) * self.ndim) if keepdim else index)


@declare(function=False)
def sum_to_size(self, *size: Any) -> Tensor:
    """Sum broadcast dimensions so the result has ``size``."""
    shape = _shape_arg(size)
    if shape == self.shape:
        return self
    return _run_op(SumToSize(), (self,), (self._data,), shape=shape)


# -------------------------------------------------- results and argument checks


_MinMax = return_type("max")
_Min = return_type("min")


def _refuse_bool(t: Tensor, name: str) -> None:
    if t._data.dtype == np.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")
