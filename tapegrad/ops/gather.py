"""Gathering and scattering along a dimension: gather, scatter and scatter_add (and the
helpers the other index families share: index checks, keys along a dim, in-place forms).

An index along ``dim`` is turned into an advanced-indexing key (the index at ``dim``,
broadcast aranges elsewhere), so every backward rule is ``xp.index`` or
``xp.index_into_zeros`` and can itself be differentiated.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad._array import normalize_dim, shape_str
from tapegrad._dtypes import _scalar_type_name
from tapegrad._index_plan import _scalar_array
from tapegrad.engine.grad_mode import is_grad_enabled
from tapegrad.inplace import _inplace
from tapegrad.ops.base import HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, Sample, normal
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

INT_INDEX = (np.dtype(np.int64), np.dtype(np.int32))
LONG_INDEX = (np.dtype(np.int64),)
SCATTER_INDEX = "scatter(): Expected dtype int32/int64 for index"
SCATTER_DTYPE = "scatter(): Expected self.dtype to be equal to src.dtype"

# ------------------------------------------------------------------ shared helpers


def index_data(index: Any, fn: str, position: int, name: str = "index") -> np.ndarray:
    """The array of a Tensor argument, with torch's message for anything else."""
    if not isinstance(index, Tensor):
        raise TypeError(
            f"{fn}(): argument '{name}' (position {position}) must be Tensor, not "
            f"{type(index).__name__}"
        )
    return index._data


def check_dtype(idx: np.ndarray, allowed: tuple[np.dtype, ...], message: str, exc: type) -> None:
    """Raise ``exc(message)`` (``{}`` is the dtype's name) unless ``idx`` has an allowed dtype."""
    if idx.dtype not in allowed:
        raise exc(message.format(_scalar_type_name(idx.dtype)))


def along_key(idx: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The advanced-indexing key of ``gather``: ``idx`` at ``axis``, aranges elsewhere."""
    key = []
    for d, size in enumerate(idx.shape):
        if d == axis:
            key.append(idx)
        else:
            key.append(np.arange(size).reshape([size if i == d else 1 for i in range(idx.ndim)]))
    return tuple(key)


def empty_key(idx: np.ndarray, ndim: int) -> tuple[np.ndarray, ...]:
    """A key selecting nothing, shaped as the (empty) index, for a tensor of ``ndim`` dims."""
    return (np.zeros(idx.shape, np.int64),) * ndim


def check_bounds(idx: np.ndarray, size: int, axis: int, exc: type = RuntimeError) -> None:
    """torch's message for the first index outside ``[0, size)``."""
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        value = idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise exc(f"index {value} is out of bounds for dimension {axis} with size {size}")


def filled_mask(shape: tuple[int, ...], key: Any) -> np.ndarray:
    """True where ``key`` writes into an array of ``shape``."""
    mask = np.zeros(shape, np.bool_)
    mask[key] = True
    return mask


def at_least_1d(shape: tuple[int, ...]) -> tuple[int, ...]:
    """torch's ``ensure_nonempty``: a 0-d tensor counts as one element along one dim."""
    return shape or (1,)


def inplace_as(t: Tensor, other: Any, compute: Callable[[Tensor], Tensor]) -> Tensor:
    """An in-place form: ``compute`` (the out-of-place op) written into ``t``. It is recorded
    as the out-of-place op when ``t`` or ``other`` needs grad, as torch records it."""

    def kernel(data: np.ndarray, _other: Any, out: np.ndarray) -> None:
        try:
            result = compute(t)._data
        except (TypeError, ValueError) as error:  # ``_inplace`` would reword these
            raise _Raised(error) from None
        if result.shape != out.shape:
            raise RuntimeError(
                f"output with shape {shape_str(out.shape)} doesn't match the broadcast shape "
                f"{shape_str(result.shape)}"
            )
        np.copyto(out, result)

    try:
        return _inplace(t, kernel, lambda before, _other: compute(before), other)
    except _Raised as raised:
        raise raised.args[0] from None


class _Raised(Exception):
    """An argument error of the out-of-place op, carried through ``_inplace`` unchanged."""


def check_fill_grad(self: Tensor, value: Any) -> None:
    """A fill value that requires grad cannot make a non-float result require it."""
    needs = isinstance(value, Tensor) and value.requires_grad and is_grad_enabled()
    if needs and self._data.dtype.kind != "f":
        raise RuntimeError(f"Autograd not support dtype: {_scalar_type_name(self._data.dtype)}")


def ix(ns: Any, index: Any) -> Any:
    """For registry entries: an index kept as a numpy array, as a tensor of ``ns``."""
    return ns.from_numpy(index) if isinstance(index, np.ndarray) else index


def loop_ref(
    a: np.ndarray, dim: int, index: np.ndarray, src: Any, combine: Callable[..., Any]
) -> np.ndarray:
    """A plain-loop reference for the scatter family (``src`` an array or a number)."""
    out = np.array(a, dtype=float, copy=True)
    for pos in np.ndindex(index.shape):
        target = list(pos)
        target[dim] = index[pos]
        value = src[pos] if isinstance(src, np.ndarray) else src
        out[tuple(target)] = combine(out[tuple(target)], value)
    return out


# -------------------------------------------------------------------------- ops


class Gather(HoldingOp):
    """``a[key]`` for a key along one dim; repeated indices accumulate in backward."""

    node_name = "GatherBackward0"
    held = ("key",)

    def forward(self, a: np.ndarray, key: tuple[np.ndarray, ...], shape: Any) -> np.ndarray:
        self.in_shape, self.key = a.shape, key
        return a.reshape(at_least_1d(a.shape))[key].reshape(shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        key_shape = np.broadcast_shapes(*(k.shape for k in self.key))
        g = g if g.shape == key_shape else xp.reshape(g, key_shape)
        out = xp.index_into_zeros(g, at_least_1d(self.in_shape), self.key, True)
        return (out if out.shape == self.in_shape else xp.reshape(out, self.in_shape),)


class ScatterAdd(HoldingOp):
    """``self`` with ``src`` (cut to the index's shape) added at ``key``."""

    node_name = "ScatterAddBackward0"
    held = ("key",)

    def forward(self, a: np.ndarray, src: np.ndarray, key: Any, shape: Any) -> np.ndarray:
        self.key, self.index_shape = key, shape
        out = a.reshape(at_least_1d(a.shape)).copy()
        self.combine(out, key, _cut(src, key))
        return out.reshape(a.shape)

    @staticmethod
    def combine(out: np.ndarray, key: Any, values: np.ndarray) -> None:
        np.add.at(out, key, values)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (self.self_grad(xp, g), self.src_grad(xp, g))

    def self_grad(self, xp: Any, g: Any) -> Any:
        return g

    def src_grad(self, xp: Any, g: Any) -> Any:
        shape1 = at_least_1d(g.shape)
        picked = xp.index(g if g.shape == shape1 else xp.reshape(g, shape1), self.key)
        return picked if picked.shape == self.index_shape else xp.reshape(picked, self.index_shape)


class Scatter(ScatterAdd):
    """``self`` with ``src`` written at ``key`` (duplicates: one of them wins)."""

    node_name = "ScatterBackward0"
    held = ("key", "mask")

    def forward(self, a: np.ndarray, src: np.ndarray, key: Any, shape: Any) -> np.ndarray:
        self.mask = filled_mask(at_least_1d(a.shape), key).reshape(a.shape)
        return super().forward(a, src, key, shape)

    @staticmethod
    def combine(out: np.ndarray, key: Any, values: np.ndarray) -> None:
        out[key] = values

    def self_grad(self, xp: Any, g: Any) -> Any:
        return xp.where(self.mask, 0, g)


class ScatterValue(HoldingOp):
    """``self`` with one value written at ``key``."""

    node_name = "ScatterBackward1"
    held = ("mask",)

    def forward(self, a: np.ndarray, key: Any, value: np.ndarray) -> np.ndarray:
        out = a.reshape(at_least_1d(a.shape)).copy()
        out[key] = value
        self.mask = filled_mask(out.shape, key).reshape(a.shape)
        return out.reshape(a.shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.where(self.mask, 0, g),)


class ScatterReduceLegacy(HoldingOp):
    """``scatter(..., reduce=)``: computed, but torch has no derivative for it."""

    node_name = "NotImplemented"
    held = ("key",)

    def forward(self, a: np.ndarray, src: Any, key: Any, reduce: str) -> np.ndarray:
        self.key = key
        out = a.reshape(at_least_1d(a.shape)).copy()
        ufunc = np.add if reduce == "add" else np.multiply
        values = _cut(src, key) if src.ndim else src
        ufunc.at(out, key, values)
        return out.reshape(a.shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        raise RuntimeError("derivative for aten::scatter is not implemented")


def _cut(src: np.ndarray, key: tuple[np.ndarray, ...]) -> np.ndarray:
    """The part of ``src`` the index covers (torch reads ``src`` only where the index is)."""
    shape = np.broadcast_shapes(*(k.shape for k in key))
    if 0 in shape:  # an empty index may be larger than ``src``
        return np.zeros(shape, src.dtype)
    src = src.reshape(at_least_1d(src.shape))
    return src[tuple(slice(0, n) for n in shape)]


# ------------------------------------------------------------------ argument checks


def scatter_key(
    self: Tensor, dim: int, index: Any, src: Tensor | None, fn: str
) -> tuple[int, tuple[np.ndarray, ...], np.ndarray]:
    """torch's checks for the scatter family, in its order; the axis and the key."""
    axis = normalize_dim(dim, self.ndim)
    idx = index_data(index, fn, 2)
    if src is not None and src._data.dtype != self._data.dtype:
        if idx.size and idx.dtype not in INT_INDEX:
            raise RuntimeError(SCATTER_INDEX)
        raise RuntimeError(SCATTER_DTYPE)
    if not idx.size:
        return axis, empty_key(idx, max(self.ndim, 1)), idx
    check_dtype(idx, INT_INDEX, SCATTER_INDEX, RuntimeError)
    self_shape, idx_shape = at_least_1d(self.shape), at_least_1d(idx.shape)
    if len(idx_shape) != len(self_shape):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src is not None and len(at_least_1d(src.shape)) != len(idx_shape):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    _check_scatter_sizes(idx, self.shape, axis, None if src is None else src.shape)
    idx1 = idx.reshape(idx_shape)
    check_bounds(idx1, self_shape[axis], axis)
    return axis, along_key(idx1, axis), idx


def _check_scatter_sizes(
    idx: np.ndarray, shape: tuple[int, ...], axis: int, src_shape: tuple[int, ...] | None
) -> None:
    i_shape, s_shape = at_least_1d(idx.shape), at_least_1d(shape)
    too_big = any(i > s for d, (i, s) in enumerate(zip(i_shape, s_shape)) if d != axis)
    message = (
        f"Expected index {shape_str(idx.shape)} to be no larger than self {shape_str(shape)} "
        f"apart from dimension {axis}"
    )
    if src_shape is not None:
        too_big = too_big or any(i > s for i, s in zip(i_shape, at_least_1d(src_shape)))
        message += f" and to be no larger size than src {shape_str(src_shape)}"
    if too_big:
        raise RuntimeError(message)


# --------------------------------------------------------------- registry samples


def _scatter_samples(rng: np.random.Generator, duplicates: bool) -> list[Sample]:
    """(self, src) pairs with index kwargs; without duplicates for ``scatter``."""
    rows = np.array([[0, 2, 1], [3, 3, 0]]) if duplicates else np.array([[0, 2, 1], [3, 1, 0]])
    cols = np.array([[1, 0], [2, 2], [0, 3]]) if duplicates else np.array([[1, 0], [2, 3], [0, 1]])
    return [
        Sample((normal(rng, (2, 4)), normal(rng, (2, 3))), "dim=1", {"dim": 1, "index": rows}),
        Sample((normal(rng, (4, 3)), normal(rng, (2, 3))), "dim=0", {"dim": 0, "index": cols.T}),
        Sample((normal(rng, (2, 4)), normal(rng, (2, 3))), "dim=-1", {"dim": -1, "index": rows}),
        Sample(
            (normal(rng, (3, 1)), normal(rng, (2, 1))),
            "size-1 dim",
            {"dim": 0, "index": np.array([[2], [0]])},
        ),
        Sample((normal(rng, ()), normal(rng, ())), "0-d", {"dim": 0, "index": np.array(0)}),
    ]


def _gather_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((normal(rng, (3, 4)),), "dim=1 repeated", {"dim": 1, "index": np.array([[0, 0]])}),
        Sample((normal(rng, (3, 4)),), "dim=0", {"dim": 0, "index": np.array([[2, 0, 1, 2]])}),
        Sample(
            (normal(rng, (2, 3, 2)),),
            "dim=-2 3-d",
            {"dim": -2, "index": np.array([[[2, 1]], [[0, 0]]])},
        ),
        Sample((normal(rng, (4, 1)),), "size-1 dim", {"dim": 0, "index": np.array([[3], [3]])}),
        Sample((normal(rng, ()),), "0-d", {"dim": 0, "index": np.array(0)}),
    ]


# ------------------------------------------------------------------ Tensor methods


@declare(
    tests=[
        OpInfo(
            "gather",
            "GatherBackward0",
            lambda ns, a, dim, index: a.gather(dim, ix(ns, index)),
            lambda a, dim, index: _gather_ref(a, dim, index),
            _gather_samples,
        ),
    ]
)
def gather(self, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Values of ``self`` along ``dim`` at ``index``: ``out[i][j] = self[index[i][j]][j]``."""
    axis = normalize_dim(dim, self.ndim)
    idx = index_data(index, "gather", 2)
    a = self._data
    if not idx.size:  # torch checks nothing more for an empty index
        return _run_op(Gather(), (self,), (a,), key=empty_key(idx, max(a.ndim, 1)), shape=idx.shape)
    check_dtype(idx, INT_INDEX, "gather(): Expected dtype int32/int64 for index", RuntimeError)
    self_shape, idx_shape = at_least_1d(a.shape), at_least_1d(idx.shape)
    if len(idx_shape) != len(self_shape):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d, (i, s) in enumerate(zip(idx_shape, self_shape)):
        if d != axis and i > s:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {shape_str(idx.shape)} to "
                f"be no larger than self {shape_str(a.shape)} apart from dimension {axis}"
            )
    idx1 = idx.reshape(idx_shape)
    check_bounds(idx1, self_shape[axis], axis)
    return _run_op(Gather(), (self,), (a,), key=along_key(idx1, axis), shape=idx.shape)


@declare(
    tests=[
        OpInfo(
            "scatter",
            "ScatterBackward0",
            lambda ns, a, s, dim, index: a.scatter(dim, ix(ns, index), s),
            lambda a, s, dim, index: _ref(a, dim, index, s, lambda old, new: new),
            lambda rng: _scatter_samples(rng, duplicates=False),
        ),
        OpInfo(
            "scatter_value",
            "ScatterBackward1",
            lambda ns, a, dim, index: a.scatter(dim, ix(ns, index), 0.5),
            lambda a, dim, index: _ref(a, dim, index, 0.5, lambda old, new: new),
            lambda rng: [Sample(s.args[:1], s.desc, s.kwargs) for s in _scatter_samples(rng, True)],
        ),
    ]
)
def scatter(
    self, dim: int, index: Tensor, src: Any = None, value: Any = None, *, reduce: Any = None
) -> Tensor:
    """``self`` with ``src`` (a tensor) or ``value`` (a number) written along ``dim`` at
    ``index``; ``reduce="add"|"multiply"`` combines instead (no derivative, as torch)."""
    if src is None and value is None:
        raise TypeError("scatter() missing the src tensor or the value")
    given = src if src is not None else value
    if isinstance(given, Tensor):
        return _scatter_tensor(self, dim, index, given, reduce)
    axis, key, _ = scatter_key(self, dim, index, None, "scatter")
    fill = _scalar_array(given, self._data.dtype)
    if reduce is not None:
        _check_legacy_reduce(reduce)
        return _run_op(ScatterReduceLegacy(), (self,), (self._data, fill), key=key, reduce=reduce)
    return _run_op(ScatterValue(), (self,), (self._data,), key=key, value=fill)


def _scatter_tensor(self: Tensor, dim: int, index: Any, src: Tensor, reduce: Any) -> Tensor:
    axis, key, idx = scatter_key(self, dim, index, src, "scatter")
    arrays = (self._data, src._data)
    if reduce is not None:
        _check_legacy_reduce(reduce)
        warnings.warn(
            "The reduce argument of tapegrad.scatter with Tensor src is deprecated and will be "
            "removed in a future release. Use tapegrad.scatter_reduce instead for more reduction "
            "options.",
            UserWarning,
            stacklevel=3,
        )
        return _run_op(ScatterReduceLegacy(), (self, src), arrays, key=key, reduce=reduce)
    return _run_op(Scatter(), (self, src), arrays, key=key, shape=idx.shape)


def _check_legacy_reduce(reduce: Any) -> None:
    if reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")


@declare(function=False)
def scatter_(
    self, dim: int, index: Tensor, src: Any = None, value: Any = None, *, reduce: Any = None
) -> Tensor:
    """``scatter`` in place (recorded as ``scatter`` on a non-leaf, as torch)."""
    given = src if src is not None else value
    return inplace_as(self, given, lambda t: t.scatter(dim, index, given, reduce=reduce))


@declare(
    tests=[
        OpInfo(
            "scatter_add",
            "ScatterAddBackward0",
            lambda ns, a, s, dim, index: a.scatter_add(dim, ix(ns, index), s),
            lambda a, s, dim, index: _ref(a, dim, index, s, lambda old, new: old + new),
            lambda rng: _scatter_samples(rng, duplicates=True),
        ),
    ]
)
def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``self`` with ``src`` added along ``dim`` at ``index`` (repeated indices add up)."""
    index_data(src, "scatter_add", 3, "src")
    _, key, idx = scatter_key(self, dim, index, src, "scatter_add")
    return _run_op(ScatterAdd(), (self, src), (self._data, src._data), key=key, shape=idx.shape)


@declare(function=False)
def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``scatter_add`` in place."""
    index_data(src, "scatter_add_", 3, "src")
    return inplace_as(self, src, lambda t: t.scatter_add(dim, index, src))


def _ref(a: np.ndarray, dim: int, index: np.ndarray, src: Any, combine: Any) -> np.ndarray:
    """The loop reference, with 0-d arguments read as one-element vectors."""
    shape = a.shape
    a, index = a.reshape(at_least_1d(a.shape)), index.reshape(at_least_1d(index.shape))
    if isinstance(src, np.ndarray):
        src = src.reshape(at_least_1d(src.shape))
    return loop_ref(a, dim % a.ndim, index, src, combine).reshape(shape)


def _gather_ref(a: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    a1, idx1 = a.reshape(at_least_1d(a.shape)), index.reshape(at_least_1d(index.shape))
    out = np.empty(idx1.shape)
    for pos in np.ndindex(idx1.shape):
        source = list(pos)
        source[dim % a1.ndim] = idx1[pos]
        out[pos] = a1[tuple(source)]
    return out.reshape(index.shape)
