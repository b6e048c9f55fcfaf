"""Convolution modules: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d (torch.nn's
arguments, parameter shapes, default initialization and repr)."""

from __future__ import annotations

import math
from typing import Any

from tapegrad.factories import empty
from tapegrad.nn import functional as F
from tapegrad.nn import init
from tapegrad.nn.module import Module
from tapegrad.nn.parameter import Parameter
from tapegrad.tensor import Tensor

__all__: list[str] = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: Any, k: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * k
    return tuple(value)


class _ConvNd(Module):
    """What the convolution modules share: arguments, parameters, init, repr."""

    _k = 2
    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        """torch.nn.Conv1d/Conv2d's arguments: checked, then the parameters are made and
        initialized as torch does."""
        super().__init__()
        k = self._k
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}"
                )
            if padding == "same" and any(s != 1 for s in _ntuple(stride, k)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                f"padding_mode='{padding_mode}'"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, k)
        self.stride = _ntuple(stride, k)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, k)
        self.dilation = _ntuple(dilation, k)
        self.output_padding = (0,) * k  # the transposed modules set theirs
        self.groups, self.padding_mode = groups, padding_mode
        if self.transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(empty(*shape, dtype=dtype))
        self.bias = Parameter(empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _padded(self, input: Tensor) -> tuple[Tensor, Any]:  # noqa: A002 - torch's name
        """For a non-zeros ``padding_mode``: the input padded by ``F.pad``, and padding 0."""
        if self.padding_mode == "zeros":
            return input, self.padding
        k = self._k
        if self.padding == "valid":
            return input, 0
        if self.padding == "same":
            total = [d * (kk - 1) for d, kk in zip(self.dilation, self.kernel_size)]
            pairs = [(t // 2, t - t // 2) for t in total]
        else:
            pairs = [(p, p) for p in self.padding]
        pad = [v for pair in reversed(pairs) for v in pair]
        return F.pad(input, pad, mode=self.padding_mode), (0,) * k

    def extra_repr(self) -> str:
        """torch's: ``3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)``."""
        k = self._k
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * k:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * k:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * k:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) or (C_in, L) inputs."""

    _k = 1

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Convolve ``input`` with the weight (and add the bias)."""
        x, padding = self._padded(input)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W) inputs."""

    _k = 2

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Convolve ``input`` with the weight (and add the bias)."""
        x, padding = self._padded(input)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        """torch.nn.ConvTranspose's arguments (only ``padding_mode='zeros'``, as torch)."""
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )
        self.output_padding = _ntuple(output_padding, self._k)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:  # noqa: A002
        """The output padding that gives ``output_size`` (torch's ``_output_padding``)."""
        k = self._k
        if output_size is None:
            return self.output_padding
        size = list(output_size)[-k:]
        spatial = input.shape[-k:]
        mins = [
            (n - 1) * s - 2 * p + d * (kk - 1) + 1
            for n, s, p, d, kk in zip(
                spatial, self.stride, self.padding, self.dilation, self.kernel_size
            )
        ]
        for want, lo, s in zip(size, mins, self.stride):
            if not lo <= want < lo + s:
                raise ValueError(
                    f"requested an output size of {size}, but valid sizes range from {mins} to "
                    f"{[m + s - 1 for m, s in zip(mins, self.stride)]} (for an input of "
                    f"{list(spatial)})"
                )
        return tuple(w - m for w, m in zip(size, mins))


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution; weight (C_in, C_out/groups, k)."""

    _k = 1

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:  # noqa: A002
        """The transposed convolution of ``input`` (``output_size`` picks output_padding)."""
        op = self._output_padding(input, output_size)
        return F.conv_transpose1d(
            input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation
        )


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution; weight (C_in, C_out/groups, kH, kW)."""

    _k = 2

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:  # noqa: A002
        """The transposed convolution of ``input`` (``output_size`` picks output_padding)."""
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation
        )
