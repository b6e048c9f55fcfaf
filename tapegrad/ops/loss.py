"""Losses: mse_loss, nll_loss and cross_entropy (``nn.functional``), each recorded as
torch records it (one ``MseLossBackward0`` or ``NllLossBackward0`` node where torch has one)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tapegrad._array import broadcast_error, sum_array
from tapegrad._dtypes import _scalar_type_name
from tapegrad.factories import arange, from_numpy
from tapegrad.ops.base import HoldingOp, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.division import DivScalar
from tapegrad.ops.reduce import _mean_all
from tapegrad.ops.samples import Array, OpInfo, fixed, functional
from tapegrad.promotion import _result_dtype, _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


# -------------------------------------------------------------------------- ops


class MseLoss(Op):
    """``mse_loss``: ``(input - target) ** 2`` reduced by mean, sum or none, as one node."""

    __slots__ = ("reduction",)
    node_name = "MseLossBackward0"
    saves = (0, 1)

    def forward(self, a: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        self.reduction = reduction
        squared = a - target
        squared *= squared
        if reduction == "none":
            return squared
        return sum_array(squared) if reduction == "sum" else _mean_all(squared)

    def backward(self, xp: Any, g: Any, a: Any, target: Any) -> tuple[Any, ...]:
        (na, _), (nt, _) = self._edges
        size = int(np.prod(a.shape))
        norm = 2.0 / size if self.reduction == "mean" and size else 2.0
        # torch's order of operations, (norm * (a - t)) * g; the target's side is computed
        # as its own (t - a), not negated, so equal values give +0 as in torch
        return (
            (a - target) * norm * g if na is not None else None,
            (target - a) * norm * g if nt is not None else None,
        )


class NllLoss(HoldingOp):
    """``nll_loss`` of (N, C) or (C,) log-probabilities and class indices, as one node:
    ``-logp[i, target[i]]`` over the rows whose target is not ``ignore_index``, reduced by
    mean (over those rows), sum or none."""

    node_name = "NllLossBackward0"
    held = ("key",)

    def forward(
        self, logp: np.ndarray, labels: np.ndarray, ignore_index: int, reduction: str
    ) -> np.ndarray:
        rows2d = logp.reshape(-1, logp.shape[-1])
        flat = labels.reshape(-1)
        keep = flat != ignore_index
        rows = np.flatnonzero(keep)
        self.shape, self.reduction = logp.shape, reduction
        self.key, self.n = (rows, flat[rows]), flat.size
        losses = np.zeros(flat.size, logp.dtype)
        losses[rows] = -rows2d[self.key]
        if reduction == "none":
            return losses.reshape(labels.shape)
        if reduction == "sum":
            return sum_array(losses)
        self.total = logp.dtype.type(rows.size)
        if not rows.size:
            return np.array(np.nan, logp.dtype)  # every target ignored: 0 / 0, as torch
        return sum_array(losses) / self.total

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        rows, cols = self.key
        if self.reduction == "none":
            picked = -xp.index(xp.reshape(g, (self.n,)), rows)
        else:
            picked = xp.expand(-(g / self.total if self.reduction == "mean" else g), rows.shape)
        rows2d = (self.n, self.shape[-1])
        grad = xp.index_into_zeros(picked, rows2d, (rows, cols), False)
        return (grad if len(self.shape) == 2 else xp.reshape(grad, self.shape),)


# ------------------------------------------------------------- registry samples


def _np_mse_loss(a: Array, b: Array, reduction: str = "mean") -> Array:
    squared = (a - b) ** 2
    return squared if reduction == "none" else getattr(squared, reduction)()


def _np_nll_loss(logp: Array, labels: Array, reduction: str) -> Array:
    picked = -logp[np.arange(len(labels)), labels]
    return picked if reduction == "none" else getattr(picked, reduction)()


# ---------------------------------------------------------------- nn.functional


@declare(
    functional=True,
    tests=[
        OpInfo(
            "mse_loss",
            "MseLossBackward0",
            lambda ns, a, b, **kw: functional(ns).mse_loss(a, b, **kw),
            _np_mse_loss,
            fixed(
                (((3, 4), (3, 4)), "mean", {"reduction": "mean"}),
                (((3, 4), (3, 4)), "sum", {"reduction": "sum"}),
                (((3, 4), (3, 4)), "none", {"reduction": "none"}),
            ),
        ),
    ],
)
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
    return _mse_loss_node(input, target, reduction)


@declare(functional=True)
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


@declare(
    functional=True,
    tests=[
        OpInfo(
            "nll_loss",
            "NllLossBackward0",
            lambda ns, a, **kw: functional(ns).nll_loss(a, ns.tensor([2, 0, 3]), **kw),
            lambda a, reduction="mean": _np_nll_loss(a, np.array([2, 0, 3]), reduction),
            fixed(
                (((3, 4),), "mean", {"reduction": "mean"}),
                (((3, 4),), "sum", {"reduction": "sum"}),
                (((3, 4),), "none", {"reduction": "none"}),
            ),
        ),
    ],
)
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


# -------------------------------------------------- how the losses are recorded


def _mse_loss_node(input: Tensor, target: Tensor, reduction: str) -> Tensor:  # noqa: A002
    """``F.mse_loss``: one ``MseLossBackward0`` node, as torch; shapes that differ are
    broadcast by expanding both first, dtypes that differ computed in the promoted one."""
    a, t = input, target
    if a.shape != t.shape:
        message = broadcast_error(a.shape, t.shape)
        if message:
            raise RuntimeError(message)
        shape = np.broadcast_shapes(a.shape, t.shape)
        a = a if a.shape == shape else a.expand(shape)
        t = t if t.shape == shape else t.expand(shape)
    ad, td = a._data, t._data
    if ad.dtype != td.dtype:
        dtype = _result_dtype(a, t)
        ad, td = ad.astype(dtype, copy=False), td.astype(dtype, copy=False)
    return _run_op(MseLoss(), (a, t), (ad, td), reduction=reduction)


def _nll_loss_node(logp: Tensor, target: Tensor, ignore_index: int, reduction: str) -> Tensor:
    """``F.nll_loss`` of (N, C) or (C,) log-probabilities: one ``NllLossBackward0`` node.
    Targets were checked by the caller (dtype, shape, range)."""
    return _run_op(
        NllLoss(),
        (logp,),
        (logp._data,),
        labels=target._data.astype(np.int64, copy=False),
        ignore_index=ignore_index,
        reduction=reduction,
    )


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
        return _nll_loss_node(logp, target, ignore_index, reduction)
    rows, flat_target = _as_rows(logp, target)
    losses = _pick_nll(rows, flat_target, ignore_index, reduction)
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses


def _soft_cross_entropy(input: Tensor, target: Tensor, dim: int, reduction: str) -> Tensor:  # noqa: A002
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, got "
            f"{_scalar_type_name(target._data.dtype)}"
        )
    products = input.log_softmax(dim) * target
    if reduction == "none":
        return -products.sum(dim)
    total = -products.sum()  # torch's structure (and order of summation) for both reductions
    if reduction == "sum":
        return total
    # ``DivBackward1``: how torch's losses divide by a count
    return _run_op(DivScalar(), (total,), (total._data,), divisor=input.numel() // input.shape[dim])


def _check_class_target(input: Tensor, target: Tensor) -> None:  # noqa: A002
    """torch's checks on class-index targets: dtype, shape, then range."""
    if target.dtype.name not in ("int64", "uint8"):
        raise RuntimeError(
            "expected target dtype to be Long or Byte, but got "
            f"{_scalar_type_name(target._data.dtype)}"
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
    rows = arange(logp.shape[0])
    if keep.all():
        return _reduce(-logp[rows, from_numpy(labels)], reduction)
    picked = logp[rows, from_numpy(np.where(keep, labels, 0))]
    mask = from_numpy(keep.astype(logp._data.dtype))
    losses = -picked * mask
    if reduction == "mean":
        # NOTE: 0/0 = nan when every target is ignored, as torch.
        with np.errstate(invalid="ignore", divide="ignore"):
            return losses.sum() / mask.sum()
    return _reduce(losses, reduction)


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
