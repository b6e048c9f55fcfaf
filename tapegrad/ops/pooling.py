"""Max pooling: max_pool1d/2d (stride, padding, dilation, ceil_mode, return_indices) and
adaptive_max_pool2d, as one pass over strided windows per kernel offset.

The result keeps, per output, the flat index (into the input's H * W) of its maximum, as
torch's indices; backward scatters the gradient there. Recorded (``create_graph=True``), the
scatter is ``scatter_add``, whose own gradient gathers at the same indices: second order works.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.factories import zeros
from tapegrad.ops.base import HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.pool_checks import (
    adaptive_bounds,
    check_pool_input,
    pool_geometry,
)
from tapegrad.ops.pool_samples import ADAPTIVE_MAX2D, MAX1D, MAX2D, ref_adaptive_max, ref_max_pool
from tapegrad.ops.samples import OpInfo, functional
from tapegrad.ops.windows import Geometry, padded, windows
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap


def _fill(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _first_valid(geom: Geometry, dim: int) -> np.ndarray:
    """Per output along ``dim``: the first kernel offset inside the input (torch's start)."""
    start = np.arange(geom.out[dim]) * geom.stride[dim] - geom.pad[dim][0]
    d = geom.dilation[dim]
    return np.where(start < 0, (-start + d - 1) // d, 0)


def max_windows(a: np.ndarray, geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The max of every window of ``a`` (B, 1, H, W) and its flat index into H * W.

    One pass per kernel offset, in row-major order: a later value replaces the max only when
    strictly greater (or NaN), as torch's kernel. Branch-free arithmetic rather than masked
    copies (which run 50x slower on random masks).
    """
    win = windows(padded(a, geom, _fill(a.dtype)), geom)
    kw = geom.kernel[1]
    offsets = geom.offsets()
    first = _first_valid(geom, 0)[:, None] * kw + _first_valid(geom, 1)[None, :]
    index_type = np.int8 if len(offsets) < 128 else np.int32
    if not first.any():  # the first offset of every window is inside the input
        best = win[:, :, 0, 0].copy()
        arg = np.zeros(best.shape, index_type)
        offsets = offsets[1:]
        start = 1
    else:
        best = np.full(win.shape[:2] + geom.out, _fill(a.dtype), a.dtype)
        arg = np.broadcast_to(first.astype(index_type), best.shape).copy()
        start = 0
    nan = a.dtype.kind == "f" and a.size > 0 and bool(np.isnan(a.max()))
    for k, (i, j) in enumerate(offsets, start):
        v = win[:, :, i, j]
        better = v > best
        if nan:  # torch: a NaN wins (the last NaN)
            better |= np.isnan(v)
        np.maximum(best, v, out=best)
        # offsets only grow, and a window's first valid offset comes before its others:
        # so "arg = k where better" is a maximum
        np.maximum(arg, better.view(np.int8) * index_type(k), out=arg)
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    w = geom.size[1]
    flat_of = np.array([i * dh * w + j * dw for i, j in geom.offsets()], np.int64)
    base = (np.arange(geom.out[0]) * sh - geom.pad[0][0])[:, None] * w + (
        np.arange(geom.out[1]) * sw - geom.pad[1][0]
    )
    return best, base + flat_of[arg]


def scatter_max(g: Any, idx: np.ndarray, shape: tuple[int, ...], overlap: bool) -> Any:
    """Each output gradient added at its maximum's place in a zero input of ``shape``."""
    b, hw = int(np.prod(shape[:-2])), shape[-2] * shape[-1]
    if not isinstance(g, np.ndarray):  # recorded: scatter_add, whose gradient is a gather
        flat = zeros(b, hw, dtype=g.dtype)
        src = g.reshape(b, -1)
        return flat.scatter_add(1, _wrap(idx.reshape(b, -1)), src).reshape(shape)
    flat_idx = (idx.reshape(b, -1) + (np.arange(b) * hw)[:, None]).ravel()
    if not overlap:  # each input is in at most one window: a plain assignment
        out = np.zeros(b * hw, g.dtype)
        out[flat_idx] = g.ravel()
        return out.reshape(shape)
    out = np.bincount(flat_idx, weights=g.ravel(), minlength=b * hw)
    return out.astype(g.dtype, copy=False).reshape(shape)


class _MaxPool(HoldingOp):
    """A max over windows: backward scatters to the held indices."""

    held = ("indices",)
    overlap = True

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (scatter_max(g, self.indices, self.in_shape, self.overlap),)


class MaxPool2d(_MaxPool):
    node_name = "MaxPool2DWithIndicesBackward0"

    def forward(self, a: np.ndarray, geom: Geometry) -> np.ndarray:
        self.in_shape = a.shape
        self.overlap = any(
            s < (k - 1) * d + 1 for k, s, d in zip(geom.kernel, geom.stride, geom.dilation)
        )
        lead = a.shape[:-2]
        out, idx = max_windows(a.reshape(-1, 1, *a.shape[-2:]), geom)
        self.indices = idx.reshape(*lead, *geom.out)
        return out.reshape(*lead, *geom.out)


class AdaptiveMaxPool2d(_MaxPool):
    node_name = "AdaptiveMaxPool2DBackward0"

    def forward(self, a: np.ndarray, out: tuple[int, int]) -> np.ndarray:
        self.in_shape = a.shape
        (h0, h1), (w0, w1) = (adaptive_bounds(n, o) for n, o in zip(a.shape[-2:], out))
        # each window padded to the longest by repeating its last index (a tie, so the
        # first occurrence, which is the real one, stays the argmax)
        rows = np.minimum(h0[:, None] + np.arange(max(h1 - h0, default=0)), h1[:, None] - 1)
        cols = np.minimum(w0[:, None] + np.arange(max(w1 - w0, default=0)), w1[:, None] - 1)
        win = a[..., rows[:, None, :, None], cols[None, :, None, :]]  # (..., oh, ow, kh, kw)
        flat = win.reshape(*win.shape[:-2], -1)
        if flat.shape[-1] == 0:
            self.indices = np.zeros(flat.shape[:-1], np.int64)
            return np.zeros(flat.shape[:-1], a.dtype)
        arg = np.argmax(flat, axis=-1)
        ri = rows[np.arange(out[0])[:, None], arg // cols.shape[1]]
        ci = cols[np.arange(out[1])[None, :], arg % cols.shape[1]]
        self.indices = ri.astype(np.int64) * a.shape[-1] + ci
        return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]


# ------------------------------------------------------------------- functions


def _max_pool2d(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    name: str,
) -> tuple[Tensor, Tensor]:
    check_pool_input(input, 2, name)
    geom = pool_geometry(input.shape, kernel_size, stride, padding, dilation, ceil_mode, name)
    op = MaxPool2d()
    out = _run_op(op, (input,), (input._data,), geom=geom)
    return out, _wrap(op.indices)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "max_pool2d",
            "MaxPool2DWithIndicesBackward0",
            lambda ns, a, **kw: functional(ns).max_pool2d(a, **kw),
            ref_max_pool(2),
            MAX2D,
        )
    ],
)
def max_pool2d(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """The max of each ``kernel_size`` window of (N, C, H, W) or (C, H, W) ``input``; with
    ``return_indices`` also each max's flat index into H * W."""
    out, idx = _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    return (out, idx) if return_indices else out


@declare(functional=True)
def max_pool2d_with_indices(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Tensor, Tensor]:
    """``max_pool2d`` returning (values, indices)."""
    return _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")


def _one(value: Any) -> tuple[int, ...]:
    """A 1-d pooling argument as its 2-d form (height 1)."""
    if value is None:
        return None  # type: ignore[return-value]
    v = value if isinstance(value, int) else tuple(value)[0]
    return (1, v)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "max_pool1d",
            "SqueezeBackward1",
            lambda ns, a, **kw: functional(ns).max_pool1d(a, **kw),
            ref_max_pool(1),
            MAX1D,
        )
    ],
)
def max_pool1d(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """The max of each window of (N, C, L) or (C, L) ``input`` (torch runs max_pool2d on
    ``input.unsqueeze(-2)``)."""
    check_pool_input(input, 1, "max_pool1d")
    pad = (0, padding if isinstance(padding, int) else tuple(padding)[0])
    dil = (1, dilation if isinstance(dilation, int) else tuple(dilation)[0])
    out, idx = _max_pool2d(
        input.unsqueeze(-2), _one(kernel_size), _one(stride), pad, dil, ceil_mode, "max_pool1d"
    )
    out, idx = out.squeeze(-2), idx.squeeze(-2)
    return (out, idx) if return_indices else out


@declare(
    functional=True,
    tests=[
        OpInfo(
            "adaptive_max_pool2d",
            "AdaptiveMaxPool2DBackward0",
            lambda ns, a, **kw: functional(ns).adaptive_max_pool2d(a, **kw),
            ref_adaptive_max,
            ADAPTIVE_MAX2D,
        )
    ],
)
def adaptive_max_pool2d(
    input: Tensor,  # noqa: A002 - torch's name
    output_size: Any,
    return_indices: bool = False,
) -> Any:
    """The max over ``output_size`` adaptive windows of (N, C, H, W) or (C, H, W) ``input``
    (window i spans floor(i * H / oH) to ceil((i + 1) * H / oH))."""
    check_pool_input(input, 2, "adaptive_max_pool2d")
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    size = tuple(n if o is None else int(o) for n, o in zip(input.shape[-2:], size))
    op = AdaptiveMaxPool2d()
    out = _run_op(op, (input,), (input._data,), out=size)
    idx = _wrap(op.indices)
    return (out, idx) if return_indices else out
