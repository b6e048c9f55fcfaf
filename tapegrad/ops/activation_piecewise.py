"""Piecewise activation functions (``nn.functional``): elu, celu, selu, leaky_relu, hardtanh,
relu6, hardsigmoid and hardswish, their in-place forms (``inplace=True``, ``F.elu_``...) and
``tapegrad.selu``/``celu``. Subgradients at the kinks are torch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.activation import (
    activation_entry,
    activation_input,
    apply_activation,
    few_samples,
    float_only,
)
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import Array, away_from_zero, unary_samples
from tapegrad.tensor import Tensor

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# torch's hardsigmoid backward multiplies by a float constant, also in float64
_ONE_SIXTH_F32 = float(np.float32(1.0) / np.float32(6.0))

_ELU_INPLACE_NEGATIVE = (
    "In-place elu backward calculation is triggered with a negative slope which is not "
    "supported. This is caused by calling in-place forward function with a negative slope, "
    "please call out-of-place version instead."
)
_LEAKY_INPLACE_NEGATIVE = (
    "In-place leakyReLu backward calculation is triggered with a negative slope which is not "
    "supported. This is caused by calling in-place forward function with a negative slope, "
    "please call out-of-place version instead. File an issue at "
    "https://github.com/pytorch/pytorch if you do require supporting in-place leakRelu backward "
    "calculation with negative slope"
)

# -------------------------------------------------------------------------- ops


class Elu(Op):
    """torch's elu kernel: ``x > 0 ? scale * x : alpha * scale * expm1(x * input_scale)``;
    elu, celu (input_scale 1/alpha) and selu are this with other constants."""

    node_name = "EluBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, alpha: float, scale: float, input_scale: float) -> np.ndarray:
        self.alpha = alpha
        self.coefs = (alpha * scale, scale, input_scale)
        negcoef, poscoef, negiptcoef = self.coefs
        return np.where(a > 0, a * poscoef, np.expm1(a * negiptcoef) * negcoef)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        negcoef, poscoef, negiptcoef = self.coefs
        negative = g * negiptcoef * negcoef * xp.exp(a * negiptcoef)
        return (xp.where(a <= 0, negative, g * poscoef),)


class EluResult(Elu):
    """The in-place form's node: the gradient from the result (the input is overwritten)."""

    node_name = "EluBackward1"
    saves = (OUT,)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        if self.alpha < 0:
            raise RuntimeError(_ELU_INPLACE_NEGATIVE)
        negcoef, poscoef, negiptcoef = self.coefs
        return (xp.where(out <= 0, g * negiptcoef * (out + negcoef), g * poscoef),)


class Celu(Elu):
    node_name = "CeluBackward0"


class CeluResult(EluResult):
    node_name = "CeluBackward1"


class LeakyRelu(Op):
    node_name = "LeakyReluBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, negative_slope: float) -> np.ndarray:
        self.slope = negative_slope
        return np.where(a > 0, a, a * negative_slope)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (xp.where(a > 0, g, g * self.slope),)


class LeakyReluResult(LeakyRelu):
    node_name = "LeakyReluBackward1"
    saves = (OUT,)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        if self.slope < 0:
            raise RuntimeError(_LEAKY_INPLACE_NEGATIVE)
        return (xp.where(out > 0, g, g * self.slope),)


class Hardtanh(Op):
    """clamp to [min_val, max_val]; the gradient passes on the open interval (torch's)."""

    node_name = "HardtanhBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
        if a.dtype.kind != "f":  # an integer tensor: bounds truncated to ints, as torch
            min_val, max_val = int(min_val), int(max_val)
        self.bounds = (min_val, max_val)
        return np.clip(a, min_val, max_val)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        lo, hi = self.bounds
        return (g * ((a > lo) & (a < hi)),)


class Hardsigmoid(Op):
    node_name = "HardsigmoidBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.clip(a + 3, 0, 6) / 6

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * ((a > -3) & (a < 3)) * _ONE_SIXTH_F32,)


class Hardswish(Op):
    node_name = "HardswishBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a * np.clip(a + 3, 0, 6) / 6

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        middle = xp.where(a < 3, g * (a / 3 + 0.5), g)
        return (xp.where(a <= -3, xp.zeros_like(g), middle),)


# ------------------------------------------------------------- numpy references


def _np_elu(a: Array, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Array:
    return np.where(a > 0, scale * a, alpha * scale * (np.exp(a * input_scale) - 1))


def _np_celu(a: Array, alpha: float = 1.0) -> Array:
    return _np_elu(a, alpha, input_scale=1 / alpha)


def _np_selu(a: Array) -> Array:
    return _np_elu(a, SELU_ALPHA, SELU_SCALE)


def _np_leaky_relu(a: Array, negative_slope: float = 0.01) -> Array:
    return np.where(a > 0, a, negative_slope * a)


def _np_hardtanh(a: Array, min_val: float = -1.0, max_val: float = 1.0) -> Array:
    return np.minimum(np.maximum(a, min_val), max_val)


def _np_hardswish(a: Array) -> Array:
    return a * _np_hardtanh(a + 3, 0, 6) / 6


def _avoiding(*kinks: float) -> Any:
    """Sample maker: values in (-8, 8) at least 0.2 away from each of ``kinks``."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
        x = rng.uniform(-8, 8, shape)
        for kink in kinks:
            near = np.abs(x - kink) < 0.2
            x = np.where(near, x + np.where(x >= kink, 0.4, -0.4), x)
        return x

    return make


_off_kinks = _avoiding(-3.0, -1.0, 1.0, 3.0)


# -------------------------------------------------------------- nn.functional forms


@declare(
    functional="elu",
    tests=[
        activation_entry(
            "elu", "EluBackward0", _np_elu, few_samples(away_from_zero, {}, {"alpha": 0.5})
        ),
        activation_entry(
            "elu", "EluBackward1", _np_elu, unary_samples(away_from_zero, alpha=2.0), inplace=True
        ),
    ],
)
def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    x = activation_input(input, "elu")
    float_only(x, "elu_cpu")
    return apply_activation(Elu, x, inplace, EluResult, alpha=alpha, scale=1.0, input_scale=1.0)


@declare(functional="elu_")
def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """In-place ``elu``."""
    return elu(input, alpha, inplace=True)


@declare(
    functional="celu",
    tests=[
        activation_entry(
            "celu", "CeluBackward0", _np_celu, few_samples(away_from_zero, {}, {"alpha": 2.0})
        ),
        activation_entry(
            "celu",
            "CeluBackward1",
            _np_celu,
            unary_samples(away_from_zero, alpha=0.5),
            inplace=True,
        ),
    ],
)
def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return _celu(input, alpha, inplace, "celu")


@declare(functional="celu_")
def celu_functional_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """In-place ``celu``."""
    return _celu(input, alpha, True, "celu_")


@declare(name="celu", method=False)
def celu_function(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``tapegrad.celu``: ``F.celu`` (torch has no Tensor method)."""
    return _celu(input, alpha, False, "celu")


@declare(name="celu_", method=False)
def celu_function_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``tapegrad.celu_``: ``celu`` in place."""
    return _celu(input, alpha, True, "celu_")


def _celu(input: Any, alpha: float, inplace: bool, fn: str) -> Tensor:  # noqa: A002
    x = activation_input(input, fn)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    float_only(x, "elu_cpu")
    return apply_activation(
        Celu, x, inplace, CeluResult, alpha=alpha, scale=1.0, input_scale=1.0 / alpha
    )


@declare(
    functional="selu",
    tests=[
        activation_entry("selu", "EluBackward0", _np_selu, few_samples(away_from_zero)),
        activation_entry(
            "selu", "EluBackward1", _np_selu, unary_samples(away_from_zero), inplace=True
        ),
    ],
)
def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``scale * elu(x, alpha)`` with the self-normalizing constants."""
    return _selu(input, inplace, "selu")


@declare(functional="selu_")
def selu_functional_(input: Tensor) -> Tensor:  # noqa: A002
    """In-place ``selu``."""
    return _selu(input, True, "selu_")


@declare(name="selu", method=False)
def selu_function(input: Tensor) -> Tensor:  # noqa: A002
    """``tapegrad.selu``: ``F.selu`` (torch has no Tensor method)."""
    return _selu(input, False, "selu")


@declare(name="selu_", method=False)
def selu_function_(input: Tensor) -> Tensor:  # noqa: A002
    """``tapegrad.selu_``: ``selu`` in place."""
    return _selu(input, True, "selu_")


def _selu(input: Any, inplace: bool, fn: str) -> Tensor:  # noqa: A002
    x = activation_input(input, fn)
    float_only(x, "elu_cpu")
    return apply_activation(
        Elu, x, inplace, EluResult, alpha=SELU_ALPHA, scale=SELU_SCALE, input_scale=1.0
    )


@declare(
    functional="leaky_relu",
    tests=[
        activation_entry(
            "leaky_relu",
            "LeakyReluBackward0",
            _np_leaky_relu,
            few_samples(away_from_zero, {}, {"negative_slope": 0.2}, {"negative_slope": -0.5}),
        ),
        activation_entry(
            "leaky_relu",
            "LeakyReluBackward1",
            _np_leaky_relu,
            unary_samples(away_from_zero, negative_slope=0.1),
            inplace=True,
        ),
    ],
)
def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` for x > 0, ``negative_slope * x`` otherwise."""
    x = activation_input(input, "leaky_relu")
    float_only(x, "leaky_relu_cpu")
    return apply_activation(LeakyRelu, x, inplace, LeakyReluResult, negative_slope=negative_slope)


@declare(functional="leaky_relu_")
def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """In-place ``leaky_relu``."""
    return leaky_relu(input, negative_slope, inplace=True)


@declare(
    functional="hardtanh",
    tests=[
        activation_entry(
            "hardtanh",
            "HardtanhBackward0",
            _np_hardtanh,
            few_samples(_off_kinks, {}, {"min_val": -3.0, "max_val": 3.0}),
        ),
        activation_entry(
            "hardtanh", "HardtanhBackward0", _np_hardtanh, few_samples(_off_kinks), inplace=True
        ),
    ],
)
def hardtanh(
    input: Tensor,  # noqa: A002
    min_val: float = -1.0,
    max_val: float = 1.0,
    inplace: bool = False,
) -> Tensor:
    """``clamp(x, min_val, max_val)``; its gradient passes strictly inside the interval."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    x = activation_input(input, "hardtanh")
    if x._data.dtype == np.bool_:
        raise RuntimeError("Bool inputs not supported for hardtanh")
    return apply_activation(Hardtanh, x, inplace, min_val=min_val, max_val=max_val)


@declare(functional="hardtanh_")
def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """In-place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, inplace=True)


@declare(
    functional="relu6",
    tests=[
        activation_entry(
            "relu6",
            "HardtanhBackward0",
            lambda a: _np_hardtanh(a, 0.0, 6.0),
            few_samples(_avoiding(0.0, 6.0)),
        ),
    ],
)
def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``min(max(x, 0), 6)`` (a ``hardtanh``, as torch records it)."""
    return hardtanh(input, 0.0, 6.0, inplace)


@declare(
    functional="hardsigmoid",
    tests=[
        activation_entry(
            "hardsigmoid",
            "HardsigmoidBackward0",
            lambda a: _np_hardtanh(a / 6 + 0.5, 0, 1),
            few_samples(_off_kinks),
        ),
    ],
)
def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``relu6(x + 3) / 6``."""
    x = activation_input(input, "hardsigmoid")
    float_only(x, "hardsigmoid_cpu")
    return apply_activation(Hardsigmoid, x, inplace)


@declare(
    functional="hardswish",
    tests=[
        activation_entry("hardswish", "HardswishBackward0", _np_hardswish, few_samples(_off_kinks)),
        activation_entry(
            "hardswish", "HardswishBackward0", _np_hardswish, few_samples(_off_kinks), inplace=True
        ),
    ],
)
def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * relu6(x + 3) / 6``."""
    x = activation_input(input, "hardswish")
    float_only(x, "hardswish_cpu")
    return apply_activation(Hardswish, x, inplace)
