"""Argument checks and window geometry of the convolutions, in torch's words."""

from __future__ import annotations

from typing import Any

from tapegrad._array import shape_str
from tapegrad._dtypes import _scalar_type_name
from tapegrad.ops.windows import Geometry, out_size
from tapegrad.tensor import Tensor


def _tuple(value: Any, k: int, name: str) -> tuple[int, ...]:
    """torch's expansion of an int (or a one-element list) to one value per dimension."""
    if isinstance(value, int):
        return (value,) * k
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * k
    if len(value) != k:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {k} values to match the "
            f"convolution dimensions, but got {name}={list(value)}"
        )
    return value


def _type_name(t: Tensor) -> str:
    return f"torch.{_scalar_type_name(t._data.dtype)}Tensor"


def check_conv(x: Tensor, w: Tensor, b: Tensor | None, groups: int, transposed: bool) -> None:
    """torch's checks of a convolution's input, weight, bias and groups."""
    if w.ndim != x.ndim:
        raise RuntimeError(
            f"Expected {w.ndim}-dimensional input for {w.ndim}-dimensional weight "
            f"{shape_str(w.shape)}, but got {x.ndim}-dimensional input of size "
            f"{shape_str(x.shape)} instead"
        )
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if x._data.dtype != w._data.dtype:
        raise RuntimeError(
            f"Input type ({_type_name(x)}) and weight type ({_type_name(w)}) should be the same "
            "or input should be a MKLDNN tensor and weight is a dense tensor"
        )
    if x._data.dtype.kind != "f":
        raise NotImplementedError(
            f"\"slow_conv2d_cpu\" not implemented for '{_scalar_type_name(x._data.dtype)}'"
        )
    c = x.shape[1]
    if transposed:
        if w.shape[0] != c:
            raise RuntimeError(
                f"Given transposed=1, weight of size {shape_str(w.shape)}, expected input"
                f"{shape_str(x.shape)} to have {w.shape[0]} channels, but got {c} channels instead"
            )
        out_channels = w.shape[1] * groups
    else:
        if w.shape[0] % groups:
            raise RuntimeError(
                f"Given groups={groups}, expected weight to be divisible by {groups} at dimension "
                f"0, but got weight of size [{shape_str(w.shape)}] instead"
            )
        if w.shape[1] * groups != c:
            raise RuntimeError(
                f"Given groups={groups}, weight of size {shape_str(w.shape)}, expected input"
                f"{shape_str(x.shape)} to have {w.shape[1] * groups} channels, but got {c} "
                "channels instead"
            )
        out_channels = w.shape[0]
    if c % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected input to be divisible by {groups} at dimension 1"
        )
    if b is not None and (b.ndim != 1 or b.shape[0] != out_channels):
        raise RuntimeError(
            f"Given weight of size {shape_str(w.shape)}, expected bias to be 1-dimensional with "
            f"{out_channels} elements, but got bias of size {shape_str(b.shape)} instead"
        )
    if b is not None and b._data.dtype != x._data.dtype:
        raise RuntimeError(
            f"Input type ({_type_name(x)}) and bias type ({_type_name(b)}) should be the same"
        )


def _stride_dilation(stride: Any, dilation: Any, k: int) -> tuple[tuple[int, ...], ...]:
    s, d = _tuple(stride, k, "stride"), _tuple(dilation, k, "dilation")
    if any(v <= 0 for v in s):
        raise RuntimeError("non-positive stride is not supported")
    if any(v <= 0 for v in d):
        raise RuntimeError("non-positive dilation is not supported")
    return s, d


def _pads(padding: Any, kernel: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]) -> Any:
    k = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * k
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(v != 1 for v in s):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        # torch pads the odd extra on the right
        return tuple(
            (dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2) for kk, dd in zip(kernel, d)
        )
    p = _tuple(padding, k, "padding")
    if any(v < 0 for v in p):
        raise RuntimeError("negative padding is not supported")
    return tuple((v, v) for v in p)


def conv_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> Geometry:
    """The windows of a convolution of a batched ``x_shape`` input by a ``w_shape`` weight."""
    kernel, size = tuple(w_shape[2:]), tuple(x_shape[2:])
    s, d = _stride_dilation(stride, dilation, len(kernel))
    pads = _pads(padding, kernel, s, d)
    full = [n + lo + hi for n, (lo, hi) in zip(size, pads)]
    eff = [dd * (kk - 1) + 1 for kk, dd in zip(kernel, d)]
    if any(f < e for f, e in zip(full, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, full))}). Kernel "
            f"size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than actual "
            "input size"
        )
    out = tuple(
        out_size(n, kk, ss, dd, lo, hi) for n, kk, ss, dd, (lo, hi) in zip(size, kernel, s, d, pads)
    )
    return Geometry(size, kernel, s, d, pads, out, groups)


def transposed_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    output_padding: Any,
    dilation: Any,
    groups: int,
) -> Geometry:
    """The windows of the convolution whose input-adjoint a transposed convolution is: its
    ``size`` is the transposed convolution's output, its ``out`` the input."""
    kernel, size = tuple(w_shape[2:]), tuple(x_shape[2:])
    k = len(kernel)
    s, d = _stride_dilation(stride, dilation, k)
    if isinstance(padding, str):
        raise RuntimeError(
            f"conv_transpose{k}d(): argument 'padding' must be tuple of ints, not str"
        )
    p, op = _tuple(padding, k, "padding"), _tuple(output_padding, k, "output_padding")
    if any(v < 0 for v in p):
        raise RuntimeError("negative padding is not supported")
    if any(o >= ss and o >= dd for o, ss, dd in zip(op, s, d)):
        names = (
            ("height", "width")
            if k == 2
            else ("width",)
            if k == 1
            else ("depth", "height", "width")
        )
        parts = [f"output_padding_{n}: {v}" for n, v in zip(names, op)]
        parts += [f"stride_{n}: {v}" for n, v in zip(names, s)]
        parts += [f"dilation_{n}: {v}" for n, v in zip(names, d)]
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            + " ".join(parts)
        )
    full = tuple(
        (n - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1
        for n, ss, pp, dd, kk, oo in zip(size, s, p, d, kernel, op)
    )
    if any(f <= 0 for f in full):
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, size))}). Calculated output "
            f"size per channel: ({' x '.join(map(str, full))}). Output size is too small"
        )
    return Geometry(full, kernel, s, d, tuple((v, v) for v in p), size, groups)
