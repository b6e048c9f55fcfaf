"""Separable linear resampling of the last one or two dims: adaptive_avg_pool1d/2d and
``interpolate`` (nearest, linear, bilinear with align_corners, area).

Each is ``M_h @ x @ M_w.T`` with small constant matrices (one GEMM per dim, no loop over
positions); the backward is ``M_h.T @ g @ M_w``, itself a recorded op with the forward as its
gradient, so second order works.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.pool_checks import adaptive_bounds, check_pool_input
from tapegrad.ops.pool_samples import (
    ADAPTIVE_AVG1D,
    ADAPTIVE_AVG2D,
    BILINEAR,
    LINEAR1D,
    NEAREST1D,
    NEAREST2D,
    ref_adaptive_avg,
    ref_interpolate,
)
from tapegrad.ops.samples import OpInfo, functional
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

Mats = tuple[np.ndarray | None, np.ndarray]  # (M_h or None, M_w)


def resample(a: np.ndarray, mats: Mats, adjoint: bool) -> np.ndarray:
    """``M_h @ a @ M_w.T`` (or, for ``adjoint``, ``M_h.T @ a @ M_w``) on the last dims."""
    mh, mw = (None if m is None else m.astype(a.dtype, copy=False) for m in mats)
    if adjoint:
        out = a @ mw
        return out if mh is None else np.matmul(mh.T, out)
    out = a @ mw.T
    return out if mh is None else np.matmul(mh, out)


class _Resample(Op):
    adjoint = False
    partner: type[_Resample]

    def forward(self, a: np.ndarray, mats: Mats) -> np.ndarray:
        self.mats = mats
        return resample(a, mats, self.adjoint)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if isinstance(g, np.ndarray):
            return (resample(g, self.mats, not self.adjoint),)
        return (_run_op(self.partner(), (g,), (g._data,), mats=self.mats),)


def _pair(name: str) -> type[_Resample]:
    """The op named ``name`` and its adjoint (named as torch's double-backward node)."""
    fwd = type(name, (_Resample,), {"node_name": name})
    back = type(
        name.replace("Backward0", "BackwardBackward0"),
        (_Resample,),
        {"node_name": name.replace("Backward0", "BackwardBackward0"), "adjoint": True},
    )
    fwd.partner, back.partner = back, fwd
    return fwd


_OPS = {
    name: _pair(name)
    for name in (
        "AdaptiveAvgPool2DBackward0",
        "UpsampleNearest1DBackward0",
        "UpsampleNearest2DBackward0",
        "UpsampleNearestExact1DBackward0",
        "UpsampleNearestExact2DBackward0",
        "UpsampleLinear1DBackward0",
        "UpsampleBilinear2DBackward0",
    )
}


def _run(name: str, t: Tensor, mats: Mats) -> Tensor:
    return _run_op(_OPS[name](), (t,), (t._data,), mats=mats)


# ------------------------------------------------------------------- matrices


def adaptive_matrix(n: int, o: int) -> np.ndarray:
    """(o, n): row i averages torch's adaptive window i."""
    start, end = adaptive_bounds(n, o)
    cols = np.arange(n)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return inside / np.maximum(end - start, 1)[:, None]


def nearest_matrix(n: int, o: int, scale: float | None, exact: bool = False) -> np.ndarray:
    """(o, n): output i copies input min(floor(i * scale), n - 1) (``exact``: of
    floor((i + 0.5) * scale)), in float32 as torch."""
    s = np.float32(1.0 / scale if scale is not None and scale > 0 else n / o)
    dst = np.arange(o, dtype=np.float32)
    if exact:
        src = np.minimum(np.floor((dst + np.float32(0.5)) * s).astype(np.int64), n - 1)
    elif o == n:
        src = np.arange(o)
    elif o == 2 * n:
        src = np.arange(o) >> 1
    else:
        src = np.minimum(np.floor(dst * s).astype(np.int64), n - 1)
    m = np.zeros((o, n))
    m[np.arange(o), src] = 1.0
    return m


def linear_matrix(
    n: int, o: int, scale: float | None, align_corners: bool, dtype: np.dtype
) -> np.ndarray:
    """(o, n): torch's linear interpolation weights of each output position, computed in
    ``dtype`` as torch computes them (float32 source positions for float32 inputs)."""
    ft = np.float32 if dtype == np.float32 else np.float64
    dst = np.arange(o, dtype=ft)
    if align_corners:
        src = dst * ft((n - 1) / (o - 1) if o > 1 else 0.0)
    else:
        s = ft(1.0 / scale if scale is not None and scale > 0 else n / o)
        src = np.maximum(s * (dst + ft(0.5)) - ft(0.5), ft(0.0))
    i0 = np.minimum(src.astype(np.int64), n - 1)
    lam = np.clip(src - i0.astype(ft), ft(0.0), ft(1.0))
    i1 = i0 + (i0 < n - 1)
    m = np.zeros((o, n), ft)
    np.add.at(m, (np.arange(o), i0), ft(1.0) - lam)
    np.add.at(m, (np.arange(o), i1), lam)
    return m


# ------------------------------------------------------------------- functions


def _adaptive(input: Tensor, size: tuple[int, int]) -> Tensor:  # noqa: A002
    h, w = input.shape[-2:]
    if size == (1, 1):  # torch takes the mean
        return input.mean((-1, -2), keepdim=True)
    mats = (adaptive_matrix(h, size[0]), adaptive_matrix(w, size[1]))
    return _run("AdaptiveAvgPool2DBackward0", input, mats)


def _output_size(input: Tensor, output_size: Any, k: int) -> tuple[int, ...]:
    size = (output_size,) * k if isinstance(output_size, int) else tuple(output_size)
    if len(size) != k:
        raise RuntimeError(f"adaptive_avg_pool{k}d: output_size must be {k}")
    return tuple(n if o is None else int(o) for n, o in zip(input.shape[-k:], size))


@declare(
    functional=True,
    tests=[
        OpInfo(
            "adaptive_avg_pool2d",
            "AdaptiveAvgPool2DBackward0",
            lambda ns, a, **kw: functional(ns).adaptive_avg_pool2d(a, **kw),
            ref_adaptive_avg(2),
            ADAPTIVE_AVG2D,
        )
    ],
)
def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """The mean over ``output_size`` adaptive windows of (N, C, H, W) or (C, H, W) ``input``."""
    check_pool_input(input, 2, "adaptive_avg_pool2d")
    return _adaptive(input, _output_size(input, output_size, 2))  # type: ignore[arg-type]


@declare(
    functional=True,
    tests=[
        OpInfo(
            "adaptive_avg_pool1d",
            "SqueezeBackward1",
            lambda ns, a, **kw: functional(ns).adaptive_avg_pool1d(a, **kw),
            ref_adaptive_avg(1),
            ADAPTIVE_AVG1D,
        )
    ],
)
def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """The mean over ``output_size`` adaptive windows of (N, C, L) or (C, L) ``input``."""
    check_pool_input(input, 1, "adaptive_avg_pool1d")
    (o,) = _output_size(input, output_size, 1)
    return _adaptive(input.unsqueeze(-2), (1, o)).squeeze(-2)


_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"


def _check_interp(input: Tensor, size: Any, scale_factor: Any, mode: str, align: Any) -> int:  # noqa: A002
    k = input.ndim - 2
    if align is not None and mode in ("nearest", "area", "nearest-exact"):
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    need = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode)
    if need is not None and k != need:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {need + 2}D input"
        )
    if k not in (1, 2) or mode not in ("nearest", "nearest-exact", "linear", "bilinear", "area"):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: {_MODES} (got {mode})"
        )
    return k


def _check_sizes(spatial: tuple[int, ...], out: tuple[int, ...]) -> None:
    if all(n > 0 for n in spatial) and all(o > 0 for o in out):
        return
    if len(out) == 1:
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input "
            f"(W: {spatial[0]}) and output (W: {out[0]})"
        )
    raise RuntimeError(
        "Input and output sizes should be greater than 0, but got input "
        f"(H: {spatial[0]}, W: {spatial[1]}) output (H: {out[0]}, W: {out[1]})"
    )


def _sizes_scales(
    input: Tensor,
    size: Any,
    scale_factor: Any,
    k: int,
    recompute: Any,  # noqa: A002
) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    spatial = input.shape[2:]
    if size is not None:
        out = (size,) * k if isinstance(size, int) else tuple(int(s) for s in size)
        if len(out) != k:
            raise ValueError(
                "Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(spatial)} and output size of "
                f"{size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                "output size in (o1, o2, ...,oK) format."
            )
        return out, (None,) * k
    sf = (
        (float(scale_factor),) * k
        if isinstance(scale_factor, int | float)
        else tuple(float(s) for s in scale_factor)
    )
    if len(sf) != k:
        raise ValueError(
            "Input and scale_factor must have the same number of spatial dimensions, but got "
            f"input with spatial dimensions of {list(spatial)} and scale_factor of shape "
            f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
            "scale_factor in (s1, s2, ...,sK) format."
        )
    out = tuple(int(np.floor(n * s)) for n, s in zip(spatial, sf))
    return out, ((None,) * k if recompute else sf)


def _interp_info(name: str, node: str, samples: Any) -> OpInfo:
    return OpInfo(
        name,
        node,
        lambda ns, a, **kw: functional(ns).interpolate(a, **kw),
        ref_interpolate,
        samples,
    )


@declare(
    functional=True,
    tests=[
        _interp_info("interpolate_nearest", "UpsampleNearest2DBackward0", NEAREST2D),
        _interp_info("interpolate_bilinear", "UpsampleBilinear2DBackward0", BILINEAR),
        _interp_info("interpolate_linear", "UpsampleLinear1DBackward0", LINEAR1D),
        _interp_info("interpolate_nearest1d", "UpsampleNearest1DBackward0", NEAREST1D),
    ],
)
def interpolate(
    input: Tensor,  # noqa: A002 - torch's name
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dims of (N, C, L) or (N, C, H, W) ``input`` to ``size`` or by
    ``scale_factor``: ``mode`` nearest, linear (3-D), bilinear (4-D) or area."""
    k = _check_interp(input, size, scale_factor, mode, align_corners)
    if antialias:
        raise NotImplementedError("antialias=True is not supported")
    out, scales = _sizes_scales(input, size, scale_factor, k, recompute_scale_factor)
    if mode == "area":
        if k == 1:
            return adaptive_avg_pool1d(input, out)
        return adaptive_avg_pool2d(input, out)
    spatial = input.shape[2:]
    _check_sizes(spatial, out)
    if mode in ("nearest", "nearest-exact"):
        exact = mode == "nearest-exact"
        mats = [nearest_matrix(n, o, s, exact) for n, o, s in zip(spatial, out, scales)]
        name = f"UpsampleNearest{'Exact' if exact else ''}{k}DBackward0"
    else:
        align = bool(align_corners)
        dt = input._data.dtype
        mats = [linear_matrix(n, o, s, align, dt) for n, o, s in zip(spatial, out, scales)]
        name = "UpsampleLinear1DBackward0" if k == 1 else "UpsampleBilinear2DBackward0"
    pair = (None, mats[0]) if k == 1 else (mats[0], mats[1])
    return _run(name, input, pair)
