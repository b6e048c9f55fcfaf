"""Convolutions: conv1d, conv2d, conv_transpose1d/2d, as one GEMM over strided windows.

Three bilinear kernels share one window geometry: the convolution ``conv(x, w)``, its
adjoint in ``x`` (``conv_in(g, w)``, which is also the transposed convolution) and its
adjoint in ``w`` (``conv_w(x, g)``). Each one's gradients are the other two, so a backward
rule written with them records on Tensors and second order works (torch's
``ConvolutionBackwardBackward0``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad._array import shape_str
from tapegrad.ops.base import Op
from tapegrad.ops.conv_checks import check_conv, conv_geometry, transposed_geometry
from tapegrad.ops.conv_samples import CONV1D, CONV2D, CONV_T1D, CONV_T2D, ref_conv, ref_conv_t
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, functional
from tapegrad.ops.windows import (
    Geometry,
    flat_length,
    from_full_rows,
    padded,
    spread,
    spread_flat,
    to_full_rows,
    unfold,
    unfold_flat,
)
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# ---------------------------------------------------------------------- kernels


def _flat(geom: Geometry) -> bool:
    """Stride 1: the windows are runs of the flattened input (see ``windows.unfold_flat``)."""
    return all(s == 1 for s in geom.stride)


def _cols(x: np.ndarray, geom: Geometry) -> np.ndarray:
    """Every window of ``x`` as columns: (N, groups, C/groups * prod(kernel), L), L the
    output positions (over the full padded width when ``_flat``; rows then offset-major)."""
    n, c = x.shape[:2]
    k, g = math.prod(geom.kernel), geom.groups
    if _flat(geom):
        return unfold_flat(x, geom).reshape(n, g, c // g * k, flat_length(geom))
    return unfold(padded(x, geom), geom).reshape(n, g, c // g * k, math.prod(geom.out))


def _wmat(w: np.ndarray, geom: Geometry) -> np.ndarray:
    """The weight (O, C/groups, *kernel) as (groups, O/groups, rows), rows in ``_cols``' order."""
    g, (o, cg), k = geom.groups, w.shape[:2], math.prod(geom.kernel)
    m = w.reshape(g, o // g, cg, k)
    if _flat(geom):
        m = m.transpose(0, 1, 3, 2)
    return m.reshape(g, o // g, cg * k)


def _wback(m: np.ndarray, geom: Geometry, cg: int) -> np.ndarray:
    """The inverse of ``_wmat``: (groups, O/groups, rows) to (O, C/groups, *kernel)."""
    g, og, k = m.shape[0], m.shape[1], math.prod(geom.kernel)
    if _flat(geom):
        m = m.reshape(g, og, k, cg).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(m).reshape(g * og, cg, *geom.kernel)


def _rows(gy: np.ndarray, geom: Geometry) -> np.ndarray:
    """An output-shaped array (N, O, *out) in the columns' layout: (N, groups, O/groups, L)."""
    n, o, g = gy.shape[0], gy.shape[1], geom.groups
    if _flat(geom):
        return to_full_rows(gy, geom).reshape(n, g, o // g, flat_length(geom))
    return gy.reshape(n, g, o // g, math.prod(geom.out))


def conv_fwd(
    x: np.ndarray, w: np.ndarray, geom: Geometry, cols: np.ndarray | None = None
) -> np.ndarray:
    """``x`` (N, C, *size) convolved with ``w`` (O, C/groups, *kernel): (N, O, *out)."""
    n, o = x.shape[0], w.shape[0]
    out = np.matmul(_wmat(w, geom), _cols(x, geom) if cols is None else cols)
    if _flat(geom):
        return from_full_rows(out.reshape(n, o, -1), geom)
    return out.reshape(n, o, *geom.out)


def conv_in(
    gy: np.ndarray, w: np.ndarray, geom: Geometry, rows: np.ndarray | None = None
) -> np.ndarray:
    """The adjoint of ``conv_fwd`` in ``x``: (N, O, *out) to (N, C, *size)."""
    n, g, cg = gy.shape[0], geom.groups, w.shape[1]
    rows = _rows(gy, geom) if rows is None else rows
    cols = np.matmul(_wmat(w, geom).transpose(0, 2, 1), rows)
    if _flat(geom):
        return spread_flat(cols.reshape(n, g, math.prod(geom.kernel), cg, -1), geom)
    return spread(cols.reshape(n, g * cg, *geom.kernel, *geom.out), geom)


def conv_w(
    x: np.ndarray,
    gy: np.ndarray,
    geom: Geometry,
    cols: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The adjoint of ``conv_fwd`` in ``w``: (O, C/groups, *kernel)."""
    cols = _cols(x, geom) if cols is None else cols
    rows = _rows(gy, geom) if rows is None else rows
    # (rows x O/groups) per sample: the orientation OpenBLAS runs fastest here
    per_sample = np.matmul(cols, rows.swapaxes(-1, -2))
    return _wback(per_sample.sum(0).swapaxes(-1, -2), geom, x.shape[1] // geom.groups)


# -------------------------------------------------------------------------- ops


def _call(cls: type[_Bilinear], geom: Geometry, a: Any, b: Any) -> Any:
    """Run one of the three kernels: on arrays directly, on Tensors as a recorded op."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return cls.kernel(a, b, geom)
    a, b = (t if isinstance(t, Tensor) else _wrap(np.asarray(t)) for t in (a, b))
    return _run_op(cls(), (a, b), (a._data, b._data), geom=geom)


class _Bilinear(Op):
    """One of the kernels as an op of two inputs (what a recorded backward runs)."""

    node_name = "ConvolutionBackwardBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}
    kernel: Any = None

    def forward(self, a: np.ndarray, b: np.ndarray, geom: Geometry) -> np.ndarray:
        self.geom = geom
        return type(self).kernel(a, b, geom)


class _ConvFwd(_Bilinear):
    kernel = staticmethod(conv_fwd)

    def backward(self, xp: Any, g: Any, x: Any, w: Any) -> tuple[Any, ...]:
        need = self.needs_input_grad
        return (
            _call(_ConvIn, self.geom, g, w) if need[0] else None,
            _call(_ConvW, self.geom, x, g) if need[1] else None,
        )


class _ConvIn(_Bilinear):
    kernel = staticmethod(conv_in)

    def backward(self, xp: Any, g: Any, gy: Any, w: Any) -> tuple[Any, ...]:
        need = self.needs_input_grad
        return (
            _call(_ConvFwd, self.geom, g, w) if need[0] else None,
            _call(_ConvW, self.geom, g, gy) if need[1] else None,
        )


class _ConvW(_Bilinear):
    kernel = staticmethod(conv_w)

    def backward(self, xp: Any, g: Any, x: Any, gy: Any) -> tuple[Any, ...]:
        need = self.needs_input_grad
        return (
            _call(_ConvIn, self.geom, gy, g) if need[0] else None,
            _call(_ConvFwd, self.geom, x, g) if need[1] else None,
        )


class Convolution(Op):
    """A convolution (or transposed convolution) with an optional bias: one node, as torch."""

    node_name = "ConvolutionBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(
        self, x: np.ndarray, w: np.ndarray, *bias: np.ndarray, geom: Geometry, transposed: bool
    ) -> np.ndarray:
        self.geom, self.transposed, self.cols = geom, transposed, None
        if transposed:
            out = conv_in(x, w, geom)
        else:
            # the input's windows, kept for the weight's gradient: one copy fewer per step
            self.cols = _cols(x, geom)
            out = conv_fwd(x, w, geom, self.cols)
        if bias:
            out += bias[0].reshape(-1, *(1,) * len(geom.kernel))
        return out

    def backward(self, xp: Any, g: Any, x: Any, w: Any) -> tuple[Any, ...]:
        need, geom = self.needs_input_grad, self.geom
        if self.transposed:
            grads = [
                _call(_ConvFwd, geom, g, w) if need[0] else None,
                _call(_ConvW, geom, g, x) if need[1] else None,
            ]
        else:
            cols, self.cols = self.cols, None
            if isinstance(g, np.ndarray):  # arrays: share the widened gradient and the columns
                rows = _rows(g, geom)
                grads = [
                    conv_in(g, w, geom, rows) if need[0] else None,
                    conv_w(x, g, geom, cols, rows) if need[1] else None,
                ]
            else:
                grads = [
                    _call(_ConvIn, geom, g, w) if need[0] else None,
                    _call(_ConvW, geom, x, g) if need[1] else None,
                ]
        if len(need) == 3:
            axes = (0, *range(2, 2 + len(geom.kernel)))
            grads.append(xp.sum(g, axes, keepdims=False) if need[2] else None)
        return tuple(grads)

    def _release(self) -> None:
        super()._release()
        self.cols = None


# ------------------------------------------------------------------- functions


def _batched(input: Tensor, k: int, name: str, weight: Tensor) -> tuple[Tensor, bool]:  # noqa: A002
    """``input`` with a batch dimension (torch unsqueezes an unbatched one, then squeezes)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        bad = "input" if not isinstance(input, Tensor) else "weight"
        pos = 1 if bad == "input" else 2
        value = input if bad == "input" else weight
        raise TypeError(
            f"{name}(): argument '{bad}' (position {pos}) must be Tensor, not "
            f"{type(value).__name__}"
        )
    if input.ndim not in (k + 1, k + 2):
        raise RuntimeError(
            f"Expected {k + 1}D (unbatched) or {k + 2}D (batched) input to {name}, but got "
            f"input of size: {shape_str(input.shape)}"
        )
    if input.ndim == k + 1:
        return input.unsqueeze(0), True
    return input, False


def _conv(
    k: int,
    name: str,
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> Tensor:
    x, unbatched = _batched(input, k, name, weight)
    check_conv(x, weight, bias, groups, transposed=False)
    geom = conv_geometry(x.shape, weight.shape, stride, padding, dilation, groups)
    out = _record(x, weight, bias, geom, transposed=False)
    return out.squeeze(0) if unbatched else out


def _conv_t(
    k: int,
    name: str,
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: int,
    dilation: Any,
) -> Tensor:
    x, unbatched = _batched(input, k, name, weight)
    check_conv(x, weight, bias, groups, transposed=True)
    geom = transposed_geometry(
        x.shape, weight.shape, stride, padding, output_padding, dilation, groups
    )
    out = _record(x, weight, bias, geom, transposed=True)
    return out.squeeze(0) if unbatched else out


def _record(x: Tensor, w: Tensor, b: Tensor | None, geom: Geometry, transposed: bool) -> Tensor:
    inputs = (x, w) if b is None else (x, w, b)
    arrays = tuple(t._data for t in inputs)
    return _run_op(Convolution(), inputs, arrays, geom=geom, transposed=transposed)


def _info(name: str, samples: Any, ref: Any) -> OpInfo:
    return OpInfo(
        name,
        "ConvolutionBackward0",
        lambda ns, *t, **kw: getattr(functional(ns), name)(*t, **kw),
        ref,
        samples,
    )


@declare(functional=True, tests=[_info("conv2d", CONV2D, ref_conv)])
def conv2d(
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation) of (N, C, H, W) or (C, H, W) ``input`` with
    ``weight`` (O, C/groups, kH, kW); ``padding`` is ints, ``'same'`` or ``'valid'``."""
    return _conv(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


@declare(functional=True, tests=[_info("conv1d", CONV1D, ref_conv)])
def conv1d(
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution of (N, C, L) or (C, L) ``input`` with ``weight`` (O, C/groups, k)."""
    return _conv(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


@declare(functional=True, tests=[_info("conv_transpose2d", CONV_T2D, ref_conv_t)])
def conv_transpose2d(
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """2-D transposed convolution: ``weight`` is (C_in, C_out/groups, kH, kW); the output
    size is (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    return _conv_t(
        2,
        "conv_transpose2d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


@declare(functional=True, tests=[_info("conv_transpose1d", CONV_T1D, ref_conv_t)])
def conv_transpose1d(
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """1-D transposed convolution: ``weight`` is (C_in, C_out/groups, k)."""
    return _conv_t(
        1,
        "conv_transpose1d",
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )
