"""Parameter initialization (``torch.nn.init``): in place, under ``no_grad``.

Samples come from ``tapegrad.default_generator()`` (reseeded by
``tapegrad.manual_seed``) unless a ``generator`` is given, so a seed fixes the weights. The
stream is numpy's, so the values differ from torch's for the same seed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from tapegrad.engine.grad_mode import no_grad
from tapegrad.factories import default_generator, from_numpy
from tapegrad.tensor import Tensor

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
_FAN_MODES = ["fan_in", "fan_out"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, int | float) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Fill with samples from U(a, b)."""
    if a > b:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
        )
    gen = _generator(tensor, generator)
    return _fill(tensor, gen.uniform(a, b, tensor.shape))


def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Fill with samples from N(mean, std**2)."""
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    gen = _generator(tensor, generator)
    return _fill(tensor, gen.normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _check_tensor(tensor)
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He initialization: U(-bound, bound), bound = gain * sqrt(3 / fan)."""
    if _is_empty(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Tensor:
    """He initialization: N(0, std**2), std = gain / sqrt(fan)."""
    if _is_empty(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(_correct_fan(tensor, mode))


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Glorot initialization: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(
    tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Glorot initialization: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Fill with samples from N(mean, std**2) truncated to [a, b] (exactly: torch's rejection
    sampler, redrawing normals when [a, b] holds over 30% of the mass, else uniform proposals)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of "
            "values may be incorrect.",
            UserWarning,
            stacklevel=2,
        )
    gen = _generator(tensor, generator)
    mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    if mass > 0.3:
        values = _redraw_outside(gen, tensor.shape, mean, std, a, b)
    else:
        values = _uniform_proposals(gen, tensor.shape, mean, std, a, b)
    return _fill(tensor, values)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _redraw_outside(
    gen: np.random.Generator, shape: tuple[int, ...], mean: float, std: float, a: float, b: float
) -> np.ndarray:
    values = gen.normal(mean, std, shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = gen.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return values


def _uniform_proposals(
    gen: np.random.Generator, shape: tuple[int, ...], mean: float, std: float, a: float, b: float
) -> np.ndarray:
    """Uniform draws on [a, b], each kept with probability density / peak density."""
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    values = np.empty(shape)
    pending = np.ones(shape, dtype=bool)
    while pending.any():
        count = int(pending.sum())
        proposals = gen.uniform(a, b, count)
        values[pending] = proposals
        log_ratio = -0.5 * ((proposals - mean) / std) ** 2 - log_peak
        pending[pending] = np.log(gen.uniform(0.0, 1.0, count)) > log_ratio
    return values


def orthogonal_(
    tensor: Tensor, gain: float = 1, generator: np.random.Generator | None = None
) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain``: the Q of a Gaussian matrix's QR,
    its sign fixed by R's diagonal; dims after the first are flattened."""
    _check_tensor(tensor)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flattened = _generator(tensor, generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(tensor.shape))


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d tensor with the identity matrix (ones on the diagonal of a non-square one)."""
    _check_tensor(tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-d (convolution weight) tensor with the Dirac delta: each of the
    first ``min(out/groups, in)`` channels of a group passes its input channel through."""
    _check_tensor(tensor)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    values = np.zeros(sizes)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min(out_per_group, sizes[1])):
            values[(g * out_per_group + d, d, *centre)] = 1
    return _fill(tensor, values)


def sparse_(
    tensor: Tensor,
    sparsity: float,
    std: float = 0.01,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Fill a 2-d tensor from N(0, std**2), then zero ``ceil(sparsity * rows)`` random
    entries of each column."""
    _check_tensor(tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    gen = _generator(tensor, generator)
    values = gen.normal(0.0, std, (rows, cols))
    num_zeros = math.ceil(sparsity * rows)
    zero_rows = np.argsort(gen.random((rows, cols)), axis=0)[:num_zeros]
    values[zero_rows, np.arange(cols)] = 0
    return _fill(tensor, values)


# ----------------------------------------------------------------------------- helpers


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    _check_tensor(tensor)
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in _FAN_MODES:
        raise ValueError(f"Mode {mode} not supported, please use one of {_FAN_MODES}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _is_empty(tensor: Tensor) -> bool:
    _check_tensor(tensor)
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


def _generator(tensor: Tensor, generator: np.random.Generator | None) -> np.random.Generator:
    _check_tensor(tensor)
    return generator if generator is not None else default_generator()


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """Copy sampled values (float64) into ``tensor`` in place, outside the graph."""
    with no_grad():
        return tensor.copy_(from_numpy(np.asarray(values, dtype=np.float64)))


def _check_tensor(tensor: Any) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a tapegrad.Tensor to initialize, got {type(tensor).__name__}")
