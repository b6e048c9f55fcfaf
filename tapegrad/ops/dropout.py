"""Dropout: dropout, dropout1d and dropout2d (``nn.functional``).

As torch does on the CPU, a kept element is scaled by ``1 / (1 - p)`` with one multiplication
by a random mask (``MulBackward0``); the mask comes from ``tapegrad.manual_seed``'s generator.
``p = 0`` or eval mode returns the input itself; ``p = 1`` multiplies by zero.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tapegrad.factories import default_generator
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed, functional
from tapegrad.promotion import _tensor_arg
from tapegrad.tensor import Tensor, _wrap


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply_mask(x: Tensor, p: float, training: bool, inplace: bool, shape: Any) -> Tensor:
    """``x * mask`` with ``mask`` of ``shape`` (broadcast over x): 0 with probability ``p``,
    ``1 / (1 - p)`` otherwise."""
    if p == 0 or not training or x.numel() == 0:
        return x
    dtype = x._data.dtype
    mask = np.zeros((), dtype) if p == 1 else draw_mask(shape, p, dtype)
    return x.mul_(_wrap(mask)) if inplace else x * _wrap(mask)


def draw_mask(shape: Any, p: float, dtype: np.dtype) -> np.ndarray:
    """A dropout mask from the default generator: 0 with probability ``p``, else
    ``1 / (1 - p)`` (a compiled step's replay draws it again, at the same point)."""
    keep = default_generator().random(shape) >= p
    return keep.astype(dtype) / dtype.type(1 - p)


def _np_dropped(x: np.ndarray, **kw: Any) -> np.ndarray:
    return x * 0.0  # the registry's samples use p = 1: every element dropped


@declare(
    functional=True,
    tests=[
        OpInfo(
            "dropout_p1",
            "MulBackward0",
            lambda ns, x, **kw: functional(ns).dropout(x, **kw),
            _np_dropped,
            fixed((((3, 4),), "p=1", {"p": 1.0}), (((5,),), "p=1 vector", {"p": 1.0})),
        ),
    ],
)
def dropout(
    input: Tensor,  # noqa: A002 - torch's name
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``
    (training only: otherwise ``input`` itself)."""
    x = _tensor_arg(input, "input", "dropout")
    _check_p(p)
    return _apply_mask(x, p, training, inplace, x.shape)


def _feature_dropout(x: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """Whole channels dropped: the mask has shape (N, C, 1, ...)."""
    if x.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    return _apply_mask(x, p, training, inplace, x.shape[:2] + (1,) * (x.ndim - 2))


@declare(
    functional=True,
    tests=[
        OpInfo(
            "dropout2d_p1",
            "MulBackward0",
            lambda ns, x, **kw: functional(ns).dropout2d(x, **kw),
            _np_dropped,
            fixed((((2, 3, 2, 2),), "p=1", {"p": 1.0})),
        ),
    ],
)
def dropout2d(
    input: Tensor,  # noqa: A002 - torch's name
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
) -> Tensor:
    """Zero whole channels of an (N, C, H, W) input with probability ``p``, scaling the rest
    by ``1 / (1 - p)``; a 3-d input is read as (N, C, L), with torch's warning."""
    x = _tensor_arg(input, "input", "dropout2d")
    _check_p(p)
    if x.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {x.ndim}-D input to dropout2d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 3D or 4D inputs).",
            UserWarning,
            stacklevel=2,
        )
    if x.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            UserWarning,
            stacklevel=2,
        )
    return _feature_dropout(x, p, training, inplace)


@declare(functional=True)
def dropout1d(
    input: Tensor,  # noqa: A002 - torch's name
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
) -> Tensor:
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p``."""
    x = _tensor_arg(input, "input", "dropout1d")
    _check_p(p)
    if x.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {x.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."
        )
    if x.ndim == 3:
        return _feature_dropout(x, p, training, inplace)
    if p == 0 or not training:
        return x
    shape = (x.shape[0], 1)  # unbatched (C, L): one draw per channel
    return _apply_mask(x, p, training, inplace, shape)
