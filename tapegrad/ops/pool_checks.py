"""Argument checks and window geometry of the pooling functions, in torch's words."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import shape_str
from tapegrad.ops.windows import Geometry, out_size
from tapegrad.tensor import Tensor

_DIMS_MESSAGES = {
    "max_pool2d": "non-empty 3D or 4D (batch mode) tensor expected for input",
    "avg_pool2d": "non-empty 3D or 4D (batch mode) tensor expected for input",
    "max_pool1d": (
        "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
        "input, but got:{shape}"
    ),
    "avg_pool1d": (
        "Expected 2 to 3 dimensions, but got {ndim}-dimensional tensor for argument #1 'self' "
        "(while checking arguments for avg_pool1d)"
    ),
    "adaptive_avg_pool1d": (
        "Expected 2 to 3 dimensions, but got {ndim}-dimensional tensor for argument #1 'self' "
        "(while checking arguments for adaptive_avg_pool1d)"
    ),
    "adaptive_max_pool2d": "adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: {shape}",
    "adaptive_avg_pool2d": "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {shape}",
}


def check_pool_input(input: Any, k: int, name: str) -> None:  # noqa: A002 - torch's name
    """A ``k``-d pooling takes a (k+1)-d or (k+2)-d float Tensor."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if input.ndim not in (k + 1, k + 2):
        raise RuntimeError(
            _DIMS_MESSAGES[name].format(shape=shape_str(input.shape), ndim=input.ndim)
        )


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2:
        raise RuntimeError(
            f"max_pool2d: {name} must either be a single int, or a tuple of two ints"
        )
    return value


def _sizes(
    kernel_size: Any, stride: Any, padding: Any, dilation: Any
) -> tuple[tuple[int, int], ...]:
    k = _pair(kernel_size, "kernel_size")
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _pair(stride, "stride")
    )
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if any(v == 0 for v in s):
        raise RuntimeError("stride should not be zero")
    if any(v <= 0 for v in k):
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}"
        )
    if any(v <= 0 for v in d):
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilationH: {d[0]} dilationW: {d[1]}"
        )
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > ((kk - 1) * dd + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pp}, "
                f"kernel_size={kk} and dilation={dd}"
            )
    return k, s, p, d


def pool_geometry(
    shape: tuple[int, ...],
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    name: str,
) -> Geometry:
    """The windows of a 2-d pooling of an input of ``shape`` (..., H, W)."""
    k, s, p, d = _sizes(kernel_size, stride, padding, dilation)
    size = tuple(shape[-2:])
    out = tuple(
        out_size(n, kk, ss, dd, pp, pp, ceil_mode) for n, kk, ss, dd, pp in zip(size, k, s, d, p)
    )
    if any(o < 1 for o in out):
        if name == "max_pool1d":
            raise RuntimeError(f"max_pool1d() Invalid computed output size: {out[1]}")
        c = shape[-3]
        raise RuntimeError(
            f"Given input size: ({c}x{size[0]}x{size[1]}). Calculated output size: "
            f"({c}x{out[0]}x{out[1]}). Output size is too small"
        )
    return Geometry(size, k, s, d, tuple((v, v) for v in p), out)


def adaptive_bounds(n: int, o: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each of ``o`` adaptive windows over ``n`` positions (torch's)."""
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)
