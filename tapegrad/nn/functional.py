"""Stateless layer and loss functions (``torch.nn.functional``), on the public Tensor API."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import tapegrad
from tapegrad import Tensor

_REDUCTIONS = ("mean", "sum", "none")
# torch's names for target dtypes in cross_entropy's error message.
_TORCH_DTYPE = {
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "uint8": "Byte",
    "bool": "Bool",
}


# ----------------------------------------------------------------------------- activations


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """``max(x, 0)`` elementwise; relu'(0) = 0. ``inplace=True`` changes and returns ``input``."""
    input = _tensor_arg(input, "input", "relu")  # noqa: A001
    return input.relu_() if inplace else input.relu()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent elementwise."""
    return _tensor_arg(input, "input", "tanh").tanh()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """Logistic function elementwise."""
    return _tensor_arg(input, "input", "sigmoid").sigmoid()


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """Softmax along ``dim`` (torch's implicit-dim rule, with its warning, when omitted)."""
    x = _softmax_input(input, dtype, "softmax")
    return x.softmax(_softmax_dim(dim, x.ndim, "softmax"))


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """Log of softmax along ``dim``, computed stably."""
    x = _softmax_input(input, dtype, "log_softmax")
    return x.log_softmax(_softmax_dim(dim, x.ndim, "log_softmax"))


def _softmax_input(input: Any, dtype: Any, name: str) -> Tensor:  # noqa: A002
    x = _tensor_arg(input, "input", name)
    return x if dtype is None else x.to(dtype)


def _softmax_dim(dim: int | None, ndim: int, name: str) -> int:
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


# ----------------------------------------------------------------------------- linear


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    input = _tensor_arg(input, "input", "linear")  # noqa: A001
    weight = _tensor_arg(weight, "weight", "linear")
    if isinstance(bias, Tensor) and input.ndim == 2:
        return bias._linear(input, weight)  # AddmmBackward0 over TBackward0, as torch
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


# ----------------------------------------------------------------------------- losses


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Squared error ``(input - target) ** 2``, reduced by ``'mean'``, ``'sum'`` or ``'none'``.

    Warns, as torch does, when the shapes differ (they are then broadcast).
    """
    input = _tensor_arg(input, "input", "mse_loss")  # noqa: A001
    target = _tensor_arg(target, "target", "mse_loss")
    _check_reduction(reduction)
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({list(target.shape)}) that is different to the input size "
            f"({list(input.shape)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=2,
        )
    return input._mse_loss(target, reduction)


def cross_entropy(
    input: Tensor,  # noqa: A002
    target: Tensor,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Cross entropy between logits and class indices (or class probabilities).

    ``input`` is (N, C), (C,) or (N, C, d1, ...); ``target`` holds int64 class indices of shape
    (N,), () or (N, d1, ...), or float probabilities of ``input``'s shape. Targets equal to
    ``ignore_index`` contribute nothing and are left out of the mean.
    """
    input, target = _class_loss_args(input, target, reduction, "cross_entropy")  # noqa: A001
    class_dim = 0 if input.ndim == 1 else 1
    if target.shape == input.shape:
        return _soft_cross_entropy(input, target, class_dim, reduction)
    _check_class_target(input, target)
    return _nll_loss(input.log_softmax(class_dim), target, ignore_index, reduction)


def nll_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log likelihood of log-probabilities ``input`` ((N, C), (C,) or (N, C, d1,
    ...)) at the class indices ``target``; ``ignore_index`` as in ``cross_entropy``."""
    input, target = _class_loss_args(input, target, reduction, "nll_loss")  # noqa: A001
    _check_class_target(input, target)
    return _nll_loss(input, target, ignore_index, reduction)


def _class_loss_args(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str,
    name: str,
) -> tuple[Tensor, Tensor]:
    """The checks cross_entropy and nll_loss share: Tensors, a known reduction, input >= 1-d."""
    input = _tensor_arg(input, "input", name)  # noqa: A001
    target = _tensor_arg(target, "target", name)
    _check_reduction(reduction)
    if input.ndim == 0:
        raise RuntimeError(f"{name}: input must have at least 1 dimension, got a 0-d tensor")
    return input, target


def _nll_loss(logp: Tensor, target: Tensor, ignore_index: int, reduction: str) -> Tensor:
    if logp.ndim <= 2:  # one NllLossBackward0 node, as torch
        _check_target_range(target._data, logp.shape[-1], ignore_index)
        return logp._nll_loss(target, ignore_index, reduction)
    rows, flat_target = _as_rows(logp, target)
    losses = _pick_nll(rows, flat_target, ignore_index, reduction)
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses


def _soft_cross_entropy(input: Tensor, target: Tensor, dim: int, reduction: str) -> Tensor:  # noqa: A002
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, got "
            f"{_TORCH_DTYPE.get(target.dtype.name, target.dtype.name)}"
        )
    products = input.log_softmax(dim) * target
    if reduction == "none":
        return -products.sum(dim)
    total = -products.sum()  # torch's structure (and order of summation) for both reductions
    if reduction == "sum":
        return total
    return total._div_scalar(input.numel() // input.shape[dim])


def _check_class_target(input: Tensor, target: Tensor) -> None:  # noqa: A002
    """torch's checks on class-index targets: dtype, shape, then range."""
    if target.dtype.name not in ("int64", "uint8"):
        raise RuntimeError(
            "expected target dtype to be Long or Byte, but got "
            f"{_TORCH_DTYPE.get(target.dtype.name, target.dtype.name)}"
        )
    if input.ndim <= 2 and target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input.ndim >= 2:
        batch = target.shape[0] if target.ndim else 0
        if batch != input.shape[0]:
            raise ValueError(
                f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                f"({batch})."
            )
    expected = input.shape[:1] + input.shape[2:]
    if input.ndim > 2 and target.shape != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    if input.ndim == 1 and target.ndim != 0:
        raise RuntimeError(
            f"Expected target to be a 0-d tensor for a 1-d input, got shape {list(target.shape)}"
        )


def _as_rows(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:  # noqa: A002
    """Reshape to (rows, C) logits and (rows,) targets, moving the class dim last."""
    if input.ndim == 1:
        return input.unsqueeze(0), target.reshape(1)
    if input.ndim > 2:
        order = (0, *range(2, input.ndim), 1)
        input = input.permute(*order).reshape(-1, input.shape[1])  # noqa: A001
    return input, target.reshape(-1)


def _check_target_range(labels: np.ndarray, classes: int, ignore_index: int) -> None:
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= classes))
    if bad.any():
        raise IndexError(f"Target {labels[bad].flat[0]} is out of bounds.")


def _pick_nll(logp: Tensor, target: Tensor, ignore_index: int, reduction: str) -> Tensor:
    """``-logp[i, target[i]]`` per row, skipping ``ignore_index``; then the reduction."""
    labels = target._data.astype(np.int64)
    keep = labels != ignore_index
    _check_target_range(labels, logp.shape[1], ignore_index)
    rows = tapegrad.arange(logp.shape[0])
    if keep.all():
        return _reduce(-logp[rows, tapegrad.from_numpy(labels)], reduction)
    picked = logp[rows, tapegrad.from_numpy(np.where(keep, labels, 0))]
    mask = tapegrad.from_numpy(keep.astype(logp._data.dtype))
    losses = -picked * mask
    if reduction == "mean":
        # NOTE: 0/0 = nan when every target is ignored, as torch.
        with np.errstate(invalid="ignore", divide="ignore"):
            return losses.sum() / mask.sum()
    return _reduce(losses, reduction)


# ----------------------------------------------------------------------------- helpers


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _tensor_arg(value: Any, name: str, fn: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(value).__name__}")
    return value
