"""Activation modules: GELU, SiLU, LeakyReLU, Softmax, Identity, ... (wrappers of
``nn.functional``, with torch's constructor arguments and reprs), and Flatten/Unflatten."""

from __future__ import annotations

import warnings
from typing import Any

from tapegrad.nn import functional as F
from tapegrad.nn.module import Module
from tapegrad.ops.activation import implicit_softmax_dim
from tapegrad.tensor import Tensor

__all__: list[str] = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "Flatten",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "ReLU6",
    "SiLU",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softsign",
    "Unflatten",
]


def _inplace_suffix(inplace: bool, lead: str = ", ") -> str:
    return f"{lead}inplace=True" if inplace else ""


class _Inplace(Module):
    """An activation whose only argument is ``inplace`` (repr ``inplace=True`` when set)."""

    def __init__(self, inplace: bool = False) -> None:
        """``inplace``: overwrite the input tensor and return it."""
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        """``inplace=True`` when set, as torch."""
        return _inplace_suffix(self.inplace, "")


class GELU(Module):
    """``x * Phi(x)``; ``approximate='tanh'`` for the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        """``approximate``: ``'none'`` or ``'tanh'``."""
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Apply gelu."""
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        """``approximate='none'``."""
        return f"approximate={self.approximate!r}"


class SiLU(_Inplace):
    """``x * sigmoid(x)``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply silu."""
        return F.silu(input, inplace=self.inplace)


class Mish(_Inplace):
    """``x * tanh(softplus(x))``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply mish."""
        return F.mish(input, inplace=self.inplace)


class SELU(_Inplace):
    """``scale * elu(x, alpha)`` with the self-normalizing constants."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply selu."""
        return F.selu(input, self.inplace)


class Hardsigmoid(_Inplace):
    """``relu6(x + 3) / 6``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply hardsigmoid."""
        return F.hardsigmoid(input, self.inplace)

    def extra_repr(self) -> str:
        """Nothing (torch prints no ``inplace`` here)."""
        return ""


class Hardswish(_Inplace):
    """``x * relu6(x + 3) / 6``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply hardswish."""
        return F.hardswish(input, self.inplace)

    def extra_repr(self) -> str:
        """Nothing (torch prints no ``inplace`` here)."""
        return ""


class _WithAlpha(Module):
    """An activation with ``alpha`` and ``inplace`` arguments."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        """``alpha``: the negative saturation value; ``inplace``: overwrite the input."""
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def extra_repr(self) -> str:
        """``alpha=1.0`` (and ``, inplace=True``)."""
        return f"alpha={self.alpha}{_inplace_suffix(self.inplace)}"


class ELU(_WithAlpha):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply elu."""
        return F.elu(input, self.alpha, self.inplace)


class CELU(_WithAlpha):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply celu."""
        return F.celu(input, self.alpha, self.inplace)


class LeakyReLU(Module):
    """``x`` for x > 0, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        """``negative_slope``: the slope for x <= 0; ``inplace``: overwrite the input."""
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply leaky_relu."""
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        """``negative_slope=0.01`` (and ``, inplace=True``)."""
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self.inplace)}"


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``."""

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        """``min_val < max_val``; ``min_value``/``max_value`` are their deprecated names."""
        super().__init__()
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`",
                FutureWarning,
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`",
                FutureWarning,
                stacklevel=2,
            )
            max_val = max_value
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError(
                f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply hardtanh."""
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        """``min_val=-1.0, max_val=1.0`` (and ``, inplace=True``)."""
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_suffix(self.inplace)}"


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``."""

    def __init__(self, inplace: bool = False) -> None:
        """``inplace``: overwrite the input tensor and return it."""
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        """``inplace=True`` when set."""
        return _inplace_suffix(self.inplace, "")


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        """``beta``: the sharpness; ``threshold``: where ``beta * x`` turns linear."""
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply softplus."""
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        """``beta=1.0, threshold=20.0``."""
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply softsign."""
        return F.softsign(input)


class LogSigmoid(Module):
    """``log(sigmoid(x))``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply logsigmoid."""
        return F.logsigmoid(input)


class _AlongDim(Module):
    """A normalization along ``dim`` (None: torch's implicit choice, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        """``dim``: the dimension normalized over."""
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        """``dim=1``."""
        return f"dim={self.dim}"

    def _dim_for(self, input: Tensor, name: str) -> int:  # noqa: A002
        """``dim``, or torch's implicit choice with its warning pointing at the module's
        caller (as torch's ``_stacklevel=5``)."""
        if self.dim is not None:
            return self.dim
        return implicit_softmax_dim(name, input.dim(), 5)


class Softmin(_AlongDim):
    """``softmax(-x)`` along ``dim``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply softmin."""
        return F.softmin(input, self.dim, _stacklevel=5)


class Softmax(_AlongDim):
    """Softmax along ``dim``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply softmax."""
        return F.softmax(input, self._dim_for(input, "softmax"))


class LogSoftmax(_AlongDim):
    """Log of softmax along ``dim``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply log_softmax."""
        return F.log_softmax(input, self._dim_for(input, "log_softmax"))


class Identity(Module):
    """Returns its input; any constructor arguments are ignored, as torch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Arguments are accepted and ignored."""
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Return ``input`` itself."""
        return input


class Flatten(Module):
    """Flattens dims ``start_dim`` to ``end_dim`` into one (``input.flatten``)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        """The range of dims to flatten, inclusive (default: all but the batch dim)."""
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Flatten the range of dims."""
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        """``start_dim=1, end_dim=-1``."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size`` (``input.unflatten``)."""

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        """``unflattened_size``: a tuple or list of ints whose product is the dim's size."""
        super().__init__()
        _require_tuple_int(unflattened_size)
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Unflatten dim ``dim``."""
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        """``dim=1, unflattened_size=(2, 5, 5)``."""
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _require_tuple_int(size: Any) -> None:
    if isinstance(size, tuple | list):
        for idx, elem in enumerate(size):
            if not isinstance(elem, int):
                raise TypeError(
                    "unflattened_size must be tuple of ints, "
                    f"but found element of type {type(elem).__name__} at pos {idx}"
                )
        return
    raise TypeError(
        f"unflattened_size must be a tuple of ints, but found type {type(size).__name__}"
    )
