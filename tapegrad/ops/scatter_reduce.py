"""``scatter_reduce``: sum, prod, mean, amax or amin of ``src`` into ``self`` along a dim."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.base import OUT, HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.gather import (
    _cut,
    at_least_1d,
    filled_mask,
    index_data,
    inplace_as,
    ix,
    scatter_key,
)
from tapegrad.ops.samples import OpInfo, Sample, normal, positive
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

_UFUNCS = {
    "sum": np.add,
    "mean": np.add,
    "prod": np.multiply,
    "amax": np.maximum,
    "amin": np.minimum,
}
# accepted by torch's forward, refused by its backward
_ALIASES = {"max": "amax", "min": "amin"}


def _identity(reduce: str, dtype: np.dtype) -> Any:
    """What a reduction starts from when ``self`` is left out (``include_self=False``)."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    if dtype.kind == "b":
        return reduce == "amin"
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _reduce_array(
    a: np.ndarray, part: np.ndarray, key: Any, reduce: str, include_self: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The result (``self`` as at least 1-d) and, for ``mean``, the count per position."""
    out = a.copy()
    if not include_self:
        out[key] = _identity(reduce, a.dtype)
    _UFUNCS[reduce].at(out, key, part)
    if reduce != "mean":
        return out, None
    counts = np.zeros(a.shape, np.int64)
    np.add.at(counts, key, 1)
    counts += include_self
    counts[counts == 0] = 1
    if a.dtype.kind == "f":
        return out / counts.astype(a.dtype), counts
    return np.floor_divide(out, counts).astype(a.dtype), counts


def _weights(
    a: np.ndarray,
    part: np.ndarray,
    out: np.ndarray,
    key: Any,
    reduce: str,
    counts: Any,
    include_self: bool,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """torch's gradient of sum/mean/amax/amin: the upstream gradient times constant weights
    (for ``self``, for ``src``); extrema share it evenly among tied values."""
    if reduce == "sum":
        return None, None
    if reduce == "mean":
        inv = 1 / counts.astype(a.dtype)
        return inv, inv[key]
    if reduce == "prod":
        return _prod_weights(a, part, out, key, include_self)
    self_is = a == out
    src_is = part == out[key]
    n = self_is.astype(a.dtype)
    np.add.at(n, key, src_is)
    n[n == 0] = 1
    return self_is / n, src_is / n[key]


def _prod_weights(
    a: np.ndarray, part: np.ndarray, out: np.ndarray, key: Any, include_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """torch's gradient of prod where zeros were multiplied: each factor's weight is the
    product of the others (a position with two zero factors gives 0 to both)."""
    masked_self = np.where(a == 0, a.dtype.type(1), a)
    self_w = _reduce_array(masked_self, part, key, "prod", include_self)[0] / masked_self
    src_zero = part == 0
    zeros = np.zeros(a.shape, np.int64)
    np.add.at(zeros, key, src_zero)
    single = src_zero & (zeros[key] == 1)
    masked_src = np.where(single, part.dtype.type(1), part)
    others = _reduce_array(a, masked_src, key, "prod", include_self)[0][key]
    return self_w, np.where(single, others, out[key] / np.where(src_zero, 1, part))


class ScatterReduce(HoldingOp):
    """sum, mean, amax, amin (and prod with zeros): the gradient is the upstream one times
    constant weights."""

    node_name = "ScatterReduceBackward0"
    held = ("key", "self_w", "src_w", "zero_mask")

    def forward(
        self, a: np.ndarray, src: np.ndarray, key: Any, shape: Any, reduce: str, include_self: bool
    ) -> np.ndarray:
        self.key, self.index_shape, self.in_shape = key, shape, a.shape
        self.alias, reduce = reduce if reduce in _ALIASES else None, _ALIASES.get(reduce, reduce)
        a1, part = a.reshape(at_least_1d(a.shape)), _cut(src, key)
        out, counts = _reduce_array(a1, part, key, reduce, include_self)
        self.self_w, self.src_w = (None, None)
        if a.dtype.kind == "f":
            weights = _weights(a1, part, out, key, reduce, counts, include_self)
            self.self_w, self.src_w = weights
        self.zero_mask = None if include_self else filled_mask(a1.shape, key).reshape(a.shape)
        return out.reshape(a.shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if self.alias:
            raise RuntimeError(
                "Expected 'reduce' to be one of 'sum', 'prod', 'mean', 'amax', 'amin' but got "
                f"{self.alias}."
            )
        grad_self = g
        if self.self_w is not None:
            grad_self = xp.mul_const(g, self.self_w.reshape(self.in_shape))
        if self.zero_mask is not None:
            grad_self = xp.where(self.zero_mask, 0, grad_self)
        picked = xp.index(_as_1d(xp, g), self.key)
        if self.src_w is not None:
            picked = xp.mul_const(picked, self.src_w)
        return (grad_self, _reshaped(xp, picked, self.index_shape))


class ScatterReduceProd(HoldingOp):
    """prod: ``grad * result / self`` and ``(grad * result)[key] / src``."""

    node_name = "ScatterReduceBackward0"
    held = ("key",)
    saves = (0, 1, OUT)

    def forward(
        self, a: np.ndarray, src: np.ndarray, key: Any, shape: Any, reduce: str, include_self: bool
    ) -> np.ndarray:
        self.key, self.index_shape, self.include_self = key, shape, include_self
        a1 = a.reshape(at_least_1d(a.shape))
        out, _ = _reduce_array(a1, _cut(src, key), key, reduce, include_self)
        self.mask = None if include_self else filled_mask(a1.shape, key).reshape(a.shape)
        return out.reshape(a.shape)

    def backward(self, xp: Any, g: Any, a: Any, src: Any, out: Any) -> tuple[Any, ...]:
        scaled = g * out
        grad_self = scaled / a if self.mask is None else xp.where(self.mask, 0, g)
        picked = xp.index(_as_1d(xp, scaled), self.key)
        src1 = _as_1d(xp, src)
        cut = tuple(slice(0, n) for n in picked.shape)
        if src1.shape != picked.shape:
            src1 = xp.index(src1, cut)
        return (grad_self, _reshaped(xp, picked / src1, self.index_shape))


def _as_1d(xp: Any, t: Any) -> Any:
    return xp.reshape(t, (1,)) if not t.shape else t


def _reshaped(xp: Any, t: Any, shape: tuple[int, ...]) -> Any:
    return t if t.shape == shape else xp.reshape(t, shape)


# --------------------------------------------------------------- registry samples


def _samples(make: Any) -> Any:
    def samples(rng: np.random.Generator) -> list[Sample]:
        rows = np.array([[0, 2, 2], [3, 3, 0]])
        out = []
        for include_self in (True, False):
            kw = {"include_self": include_self}
            out += [
                Sample(
                    (make(rng, (2, 4)), make(rng, (2, 3))),
                    f"dim=1 include_self={include_self}",
                    {"dim": 1, "index": rows, **kw},
                ),
                Sample(
                    (make(rng, (4, 2)), make(rng, (3, 2))),
                    f"dim=-2 include_self={include_self}",
                    {"dim": -2, "index": rows.T, **kw},
                ),
            ]
        out.append(Sample((make(rng, ()), make(rng, ())), "0-d", {"dim": 0, "index": np.array(0)}))
        return out

    return samples


def _ref(reduce: str) -> Any:
    combine = {
        "sum": lambda old, new: old + new,
        "mean": lambda old, new: old + new,
        "prod": lambda old, new: old * new,
        "amax": max,
        "amin": min,
    }[reduce]

    def ref(
        a: np.ndarray, s: np.ndarray, dim: int, index: np.ndarray, include_self: bool = True
    ) -> np.ndarray:
        shape = a.shape
        a, s = a.reshape(at_least_1d(a.shape)), s.reshape(at_least_1d(s.shape))
        index = index.reshape(at_least_1d(index.shape))
        dim %= a.ndim
        start = a.copy()
        counts = np.ones(a.shape) if include_self else np.zeros(a.shape)
        for pos in np.ndindex(index.shape):
            target = list(pos)
            target[dim] = index[pos]
            if not include_self and counts[tuple(target)] == 0:
                start[tuple(target)] = s[pos]
                counts[tuple(target)] = 1
                continue
            start[tuple(target)] = combine(start[tuple(target)], s[pos])
            counts[tuple(target)] += 1
        if reduce == "mean":
            start = start / np.maximum(counts, 1)
        return start.reshape(shape)

    return ref


def _entry(reduce: str, make: Any = normal) -> OpInfo:
    return OpInfo(
        f"scatter_reduce_{reduce}",
        "ScatterReduceBackward0",
        lambda ns, a, s, dim, index, include_self=True: a.scatter_reduce(
            dim, ix(ns, index), s, reduce, include_self=include_self
        ),
        _ref(reduce),
        _samples(make),
    )


# ------------------------------------------------------------------ Tensor methods


@declare(
    tests=[_entry("sum"), _entry("mean"), _entry("prod", positive), _entry("amax"), _entry("amin")]
)
def scatter_reduce(
    self, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """``src`` reduced into ``self`` along ``dim`` at ``index`` with ``reduce`` (sum, prod,
    mean, amax, amin); ``include_self=False`` leaves ``self``'s values out where it writes."""
    index_data(src, "scatter_reduce", 3, "src")
    _, key, idx = scatter_key(self, dim, index, src, "scatter_reduce")
    if reduce not in _UFUNCS and reduce not in _ALIASES:
        raise RuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}"
        )
    if reduce == "mean" and self._data.dtype == np.bool_:
        raise NotImplementedError(
            "\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'"
        )
    # NOTE: with a zero factor prod's gradient is torch's (the product of the others), kept as
    # constant weights: its second derivative there is not followed through those products
    zeros = reduce == "prod" and ((self._data == 0).any() or (src._data == 0).any())
    op = ScatterReduceProd() if reduce == "prod" and not zeros else ScatterReduce()
    return _run_op(
        op,
        (self, src),
        (self._data, src._data),
        key=key,
        shape=idx.shape,
        reduce=reduce,
        include_self=bool(include_self),
    )


@declare(function=False)
def scatter_reduce_(
    self, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """``scatter_reduce`` in place."""
    index_data(src, "scatter_reduce_", 3, "src")
    return inplace_as(
        self, src, lambda t: t.scatter_reduce(dim, index, src, reduce, include_self=include_self)
    )
