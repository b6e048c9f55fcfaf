"""Average pooling: avg_pool1d/2d (padding, ceil_mode, count_include_pad, divisor_override),
a sum over strided windows divided by torch's per-window divisor.

The backward spreads the gradient back over the windows; recorded (``create_graph=True``) it
is an op whose own gradient is the pooling again, so second order works.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.pool_checks import check_pool_input, pool_geometry
from tapegrad.ops.pool_samples import AVG1D, AVG2D, ref_avg_pool
from tapegrad.ops.samples import OpInfo, functional
from tapegrad.ops.windows import Geometry, padded, spread_each, windows
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor


def divisor(geom: Geometry, count_include_pad: bool, override: int | None) -> np.ndarray:
    """torch's divisor of each output window (oH, oW)."""
    if override is not None:
        return np.full(geom.out, float(override))
    sizes = []
    for n, k, s, (p, _), o in zip(geom.size, geom.kernel, geom.stride, geom.pad, geom.out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.multiply.outer(*sizes).astype(float)


def pool_sum(a: np.ndarray, geom: Geometry) -> np.ndarray:
    """The sum of every window of ``a`` (..., H, W), zero-padded."""
    lead = a.shape[:-2]
    win = windows(padded(a.reshape(-1, 1, *a.shape[-2:]), geom), geom)
    out = np.zeros(win.shape[:2] + geom.out, a.dtype)
    for i, j in geom.offsets():
        out += win[:, :, i, j]
    return out.reshape(*lead, *geom.out)


def pool_spread(g: np.ndarray, geom: Geometry) -> np.ndarray:
    """The adjoint of ``pool_sum``: each output's value added over its window."""
    lead = g.shape[:-2]
    out = spread_each(g.reshape(-1, 1, *g.shape[-2:]), geom)
    return out.reshape(*lead, *geom.size)


def _call(cls: type[Op], g: Any, geom: Geometry, div: np.ndarray) -> Any:
    if isinstance(g, np.ndarray):
        return cls.apply(g, geom, div)  # type: ignore[attr-defined]
    return _run_op(cls(), (g,), (g._data,), geom=geom, div=div)


class AvgPool2d(Op):
    # ``div`` depends only on the window geometry and the options (a replay keeps it)
    replay_constants = ("div",)
    node_name = "AvgPool2DBackward0"

    @staticmethod
    def apply(a: np.ndarray, geom: Geometry, div: np.ndarray) -> np.ndarray:
        out = pool_sum(a, geom)
        out /= div.astype(a.dtype)
        return out

    def forward(self, a: np.ndarray, geom: Geometry, div: np.ndarray) -> np.ndarray:
        self.geom, self.div = geom, div
        return self.apply(a, geom, div)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (_call(AvgPool2dBackward, g, self.geom, self.div),)


class AvgPool2dBackward(Op):
    # ``div`` depends only on the window geometry and the options (a replay keeps it)
    replay_constants = ("div",)
    node_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def apply(g: np.ndarray, geom: Geometry, div: np.ndarray) -> np.ndarray:
        return pool_spread(g / div.astype(g.dtype), geom)

    def forward(self, g: np.ndarray, geom: Geometry, div: np.ndarray) -> np.ndarray:
        self.geom, self.div = geom, div
        return self.apply(g, geom, div)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (_call(AvgPool2d, g, self.geom, self.div),)


def _avg_pool2d(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    name: str,
) -> Tensor:
    geom = pool_geometry(input.shape, kernel_size, stride, padding, 1, ceil_mode, name)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"{name}\" not implemented for 'Long'")
    div = divisor(geom, count_include_pad, divisor_override)
    return _run_op(AvgPool2d(), (input,), (input._data,), geom=geom, div=div)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "avg_pool2d",
            "AvgPool2DBackward0",
            lambda ns, a, **kw: functional(ns).avg_pool2d(a, **kw),
            ref_avg_pool(2),
            AVG2D,
        )
    ],
)
def avg_pool2d(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each ``kernel_size`` window of (N, C, H, W) or (C, H, W) ``input``."""
    check_pool_input(input, 2, "avg_pool2d")
    return _avg_pool2d(
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        "avg_pool2d",
    )


@declare(
    functional=True,
    tests=[
        OpInfo(
            "avg_pool1d",
            "SqueezeBackward1",
            lambda ns, a, **kw: functional(ns).avg_pool1d(a, **kw),
            ref_avg_pool(1),
            AVG1D,
        )
    ],
)
def avg_pool1d(
    input: Tensor,  # noqa: A002 - torch's name
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """The mean of each window of (N, C, L) or (C, L) ``input`` (torch pools
    ``input.unsqueeze(-2)`` in 2-d)."""
    check_pool_input(input, 1, "avg_pool1d")

    def one(v: Any, default: int) -> tuple[int, int]:
        return (default, v if isinstance(v, int) else tuple(v)[0])

    out = _avg_pool2d(
        input.unsqueeze(-2),
        one(kernel_size, 1),
        None if stride is None else one(stride, 1),
        one(padding, 0),
        ceil_mode,
        count_include_pad,
        None,
        "avg_pool1d",
    )
    return out.squeeze(-2)
