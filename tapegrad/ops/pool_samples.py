"""Registry samples of the pooling and resampling functions, and their numpy references
(plain loops over output positions: slow, obvious, and independent of the kernels)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.ops.samples import fixed

Ref = Callable[..., np.ndarray]


def _tup(v: Any, k: int) -> tuple[int, ...]:
    return (v,) * k if isinstance(v, int | float) else tuple(v) * (k if len(v) == 1 else 1)


def _out(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = n + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def _pool_ref(k: int, reduce: Callable[..., float]) -> Ref:
    """A reference pooling of ``k`` spatial dims: ``reduce(values, inside, window)``."""

    def ref(a: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0, **kw: Any):
        ks = _tup(kernel_size, k)
        st = ks if stride is None else _tup(stride, k)
        pd, dl = _tup(padding, k), _tup(kw.get("dilation", 1), k)
        ceil = kw.get("ceil_mode", False)
        lead, size = a.shape[:-k], a.shape[-k:]
        outs = [_out(n, kk, s, p, d, ceil) for n, kk, s, p, d in zip(size, ks, st, pd, dl)]
        res = np.zeros((*lead, *outs))
        for pos in itertools.product(*(range(o) for o in outs)):
            starts = [o * s - p for o, s, p in zip(pos, st, pd)]
            cells = [[st_ + j * d for j in range(kk)] for st_, kk, d in zip(starts, ks, dl)]
            res[(..., *pos)] = reduce(a, cells, size, starts, ks, pd, kw)
        return res

    return ref


def _max_reduce(a, cells, size, starts, ks, pd, kw):  # noqa: ANN001, ANN202
    inside = [[c for c in cs if 0 <= c < n] for cs, n in zip(cells, size)]
    vals = a[(..., *np.ix_(*inside))]
    return vals.reshape(*a.shape[: a.ndim - len(size)], -1).max(-1)


def _avg_reduce(a, cells, size, starts, ks, pd, kw):  # noqa: ANN001, ANN202
    inside = [[c for c in cs if 0 <= c < n] for cs, n in zip(cells, size)]
    vals = a[(..., *np.ix_(*inside))]
    total = vals.reshape(*a.shape[: a.ndim - len(size)], -1).sum(-1)
    if kw.get("divisor_override") is not None:
        return total / kw["divisor_override"]
    if kw.get("count_include_pad", True):
        div = np.prod([min(s + k, n + p) - s for s, k, n, p in zip(starts, ks, size, pd)])
    else:
        div = np.prod([len(i) for i in inside])
    return total / div


def ref_max_pool(k: int) -> Ref:
    """Reference max pooling of ``k`` spatial dims."""
    return _pool_ref(k, _max_reduce)


def ref_avg_pool(k: int) -> Ref:
    """Reference average pooling of ``k`` spatial dims."""
    return _pool_ref(k, _avg_reduce)


def _bounds(n: int, o: int, i: int) -> tuple[int, int]:
    return int(np.floor(i * n / o)), int(np.ceil((i + 1) * n / o))


def _adaptive(k: int, fn: Callable[..., np.ndarray]) -> Ref:
    def ref(a: np.ndarray, output_size: Any) -> np.ndarray:
        size = a.shape[-k:]
        outs = [n if o is None else o for n, o in zip(size, _tup(output_size, k))]
        res = np.zeros((*a.shape[:-k], *outs))
        for pos in itertools.product(*(range(o) for o in outs)):
            idx = [np.arange(*_bounds(n, o, i)) for n, o, i in zip(size, outs, pos)]
            vals = a[(..., *np.ix_(*idx))]
            res[(..., *pos)] = fn(vals.reshape(*a.shape[:-k], -1), axis=-1)
        return res

    return ref


def ref_adaptive_max(a: np.ndarray, output_size: Any) -> np.ndarray:
    """Reference adaptive max pooling (2-d)."""
    return _adaptive(2, np.max)(a, output_size)


def ref_adaptive_avg(k: int) -> Ref:
    """Reference adaptive average pooling of ``k`` spatial dims."""
    return _adaptive(k, np.mean)


def _src_linear(n: int, o: int, i: int, scale: Any, align: bool) -> tuple[int, int, float]:
    if align:
        x = i * (n - 1) / (o - 1) if o > 1 else 0.0
    else:
        s = 1.0 / scale if scale else n / o
        x = max(s * (i + 0.5) - 0.5, 0.0)
    i0 = min(int(x), n - 1)
    return i0, min(i0 + 1, n - 1), min(x - i0, 1.0)


def ref_interpolate(
    a: np.ndarray,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: Any = None,
) -> np.ndarray:
    """Reference interpolation, one output position at a time."""
    k = a.ndim - 2
    spatial = a.shape[2:]
    scales = _tup(scale_factor, k) if scale_factor is not None else (None,) * k
    outs = _tup(size, k) if size is not None else [int(n * s) for n, s in zip(spatial, scales)]
    res = np.zeros((*a.shape[:2], *outs))
    for pos in itertools.product(*(range(o) for o in outs)):
        if mode == "nearest":
            src = []
            for n, o, s, i in zip(spatial, outs, scales, pos):
                f = np.float32(1.0 / s if s else n / o)
                src.append(min(int(np.floor(np.float32(i) * f)), n - 1))
            res[(..., *pos)] = a[(..., *src)]
            continue
        parts = [
            _src_linear(n, o, i, s, bool(align_corners))
            for n, o, s, i in zip(spatial, outs, scales, pos)
        ]
        for corner in itertools.product((0, 1), repeat=k):
            weight = np.prod([lam if c else 1 - lam for (_, _, lam), c in zip(parts, corner)])
            idx = [p[1] if c else p[0] for p, c in zip(parts, corner)]
            res[(..., *pos)] += weight * a[(..., *idx)]
    return res


MAX2D = fixed(
    (((2, 3, 4, 4),), "kernel 2", {"kernel_size": 2}),
    (((1, 2, 6, 5),), "kernel 3 stride 2 padding 1", {"kernel_size": 3, "stride": 2, "padding": 1}),
    (((1, 2, 7, 7),), "overlapping, dilation 2", {"kernel_size": 2, "stride": 1, "dilation": 2}),
    (
        ((2, 5, 5),),
        "unbatched ceil_mode",
        {"kernel_size": (2, 3), "stride": (1, 2), "ceil_mode": True},
    ),
    (((1, 1, 5, 5),), "ceil_mode partial windows", {"kernel_size": 2, "ceil_mode": True}),
)
MAX1D = fixed(
    (((2, 3, 7),), "kernel 2", {"kernel_size": 2}),
    (
        ((1, 2, 8),),
        "stride 2 padding 1 ceil",
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    ),
    (((3, 6),), "unbatched dilation 2", {"kernel_size": 2, "stride": 1, "dilation": 2}),
)
AVG2D = fixed(
    (((2, 3, 4, 4),), "kernel 2", {"kernel_size": 2}),
    (((1, 2, 5, 5),), "stride 2 padding 1", {"kernel_size": 3, "stride": 2, "padding": 1}),
    (
        ((1, 2, 5, 5),),
        "no pad count",
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
    ),
    (((1, 1, 5, 5),), "ceil_mode", {"kernel_size": 2, "ceil_mode": True, "padding": 1}),
    (
        ((2, 5, 4),),
        "unbatched divisor_override",
        {"kernel_size": (2, 3), "stride": 1, "divisor_override": 3},
    ),
)
AVG1D = fixed(
    (((2, 3, 7),), "kernel 3", {"kernel_size": 3}),
    (
        ((1, 2, 7),),
        "padding ceil no pad count",
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
    (((3, 6),), "unbatched", {"kernel_size": 2, "stride": 1}),
)
ADAPTIVE_MAX2D = fixed(
    (((2, 3, 5, 7),), "(2, 3)", {"output_size": (2, 3)}),
    (((1, 2, 6, 6),), "4, overlapping", {"output_size": 4}),
    (((2, 5, 5),), "unbatched (None, 2)", {"output_size": (None, 2)}),
)
ADAPTIVE_AVG2D = fixed(
    (((2, 3, 5, 7),), "(2, 3)", {"output_size": (2, 3)}),
    (((1, 2, 6, 6),), "(4, 3)", {"output_size": (4, 3)}),
    (((2, 5, 5),), "unbatched (None, 2)", {"output_size": (None, 2)}),
)
ADAPTIVE_AVG1D = fixed(
    (((2, 3, 7),), "3", {"output_size": 3}),
    (((3, 5),), "unbatched 4", {"output_size": 4}),
)
NEAREST2D = fixed(
    (((1, 2, 3, 4),), "scale 2", {"scale_factor": 2}),
    (((1, 2, 3, 4),), "size (5, 7)", {"size": (5, 7)}),
    (((2, 1, 4, 3),), "scale 1.5 down to size 2", {"scale_factor": 1.5}),
    (((1, 1, 5, 6),), "shrink", {"size": (2, 4)}),
)
BILINEAR = fixed(
    (((1, 2, 3, 4),), "size (5, 6)", {"size": (5, 6), "mode": "bilinear"}),
    (
        ((1, 2, 3, 3),),
        "scale 2 align_corners",
        {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
    ),
    (
        ((2, 1, 4, 3),),
        "scale 1.7",
        {"scale_factor": 1.7, "mode": "bilinear", "align_corners": False},
    ),
    (((1, 1, 5, 6),), "shrink", {"size": (3, 2), "mode": "bilinear"}),
)
LINEAR1D = fixed(
    (((2, 3, 4),), "size 7", {"size": 7, "mode": "linear"}),
    (
        ((1, 2, 4),),
        "scale 2.5 align_corners",
        {"scale_factor": 2.5, "mode": "linear", "align_corners": True},
    ),
)
NEAREST1D = fixed(
    (((2, 3, 4),), "scale 3", {"scale_factor": 3}),
    (((1, 2, 5),), "size 3", {"size": 3}),
)
