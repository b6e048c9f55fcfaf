"""Reductions: sum, mean, max/min, logsumexp, softmax, log_softmax; mse_loss and nll_loss."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import sum_array
from tapegrad.ops.base import OUT, HoldingOp, Op


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(
    xp: Any, g: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdim: bool
) -> Any:
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdim:
        g = xp.reshape(g, _kept_shape(shape, axes))
    return xp.expand(g, shape)


# ----------------------------------------------------------------------------- sum and mean


class Sum(Op):
    """``sum()`` over everything."""

    node_name = "SumBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return sum_array(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.expand(g, self.shape),)


class SumDim(Op):
    """``sum(dim, keepdim)``."""

    node_name = "SumBackward1"

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return sum_array(a, axes, keepdim)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (_expand_back(xp, g, self.shape, self.axes, self.keepdim),)


class SumToSize(Op):
    """``sum_to_size(shape)``: undo broadcasting (used by the engine when recording)."""

    node_name = "SumBackward1"

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        from tapegrad._array import sum_to

        self.shape = a.shape
        return sum_to(a, shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.expand(g, self.shape),)


def _mean_all(a: np.ndarray) -> np.ndarray:
    """The mean of every element: np.mean's arithmetic (sum / size) without its Python-level
    overhead; NaN when empty."""
    return sum_array(a) / a.dtype.type(a.size) if a.size else np.array(np.nan, dtype=a.dtype)


class Mean(Op):
    node_name = "MeanBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return _mean_all(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.expand(g / max(int(np.prod(self.shape)), 1), self.shape),)


class MeanDim(Op):
    node_name = "MeanBackward1"

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = int(np.prod([a.shape[i] for i in axes]))
        # np.mean's arithmetic (sum, then divide by the count), as _mean_all
        return sum_array(a, axes, keepdim) / a.dtype.type(self.count)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (_expand_back(xp, g / max(self.count, 1), self.shape, self.axes, self.keepdim),)


# ----------------------------------------------------------------------------- max and min


class Max(Op):
    """``max()`` of everything: tied maxima share the gradient evenly, as PyTorch."""

    __slots__ = ()
    node_name = "MaxBackward1"
    saves = (0, OUT)
    _reduce = staticmethod(np.max)

    def forward(self, a: np.ndarray) -> np.ndarray:
        if a.size == 0:
            raise RuntimeError(
                f"{self.node_name[:3].lower()}(): Expected reduction dim to be specified for "
                "input.numel() == 0. Specify the reduction dim with the 'dim' argument."
            )
        return self._reduce(a)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        # a NaN result came from the NaN elements: they share the gradient, as torch
        mask = (a == out) | ((a != a) & (out != out))
        return (xp.where(mask, g / mask.sum(), 0),)


class Min(Max):
    __slots__ = ()
    node_name = "MinBackward1"
    _reduce = staticmethod(np.min)


class MaxDim(HoldingOp):
    """``max(dim)``: the gradient goes to the returned index only, as PyTorch."""

    node_name = "MaxBackward0"
    held = ("indices",)
    _arg = staticmethod(np.argmax)

    def forward(self, a: np.ndarray, axis: int, keepdim: bool) -> np.ndarray:
        if a.shape and a.shape[axis] == 0:
            raise IndexError(
                f"{self.node_name[:3].lower()}(): Expected reduction dim {axis} to have non-zero "
                "size."
            )
        self.shape, self.axis, self.keepdim = a.shape, axis, keepdim
        idx = self._arg(a, axis=axis, keepdims=True) if a.ndim else np.zeros((), np.int64)
        self.indices = idx if keepdim or not a.ndim else np.squeeze(idx, axis)
        return np.take_along_axis(a, idx, axis).reshape(np.shape(self.indices)) if a.ndim else a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if not self.shape:
            return (g,)
        axes = (self.axis,)
        size = self.shape[self.axis]
        positions = np.arange(size).reshape(
            [size if i == self.axis else 1 for i in range(len(self.shape))]
        )
        idx = self.indices if self.keepdim else np.expand_dims(self.indices, self.axis)
        onehot = positions == idx
        return (xp.where(onehot, _expand_back(xp, g, self.shape, axes, self.keepdim), 0),)


class MinDim(MaxDim):
    node_name = "MinBackward0"
    _arg = staticmethod(np.argmin)


# ----------------------------------------------------------------------------- log-sum-exp family


def _stable_max(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The max to subtract before ``exp``, 0 where it is infinite (torch's logsumexp guard);
    -inf over an empty axis."""
    m = a.max(axis=axes, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0)


class Logsumexp(Op):
    """NOTE: a primitive (not exp/sum/log) so the max can be subtracted for stability."""

    node_name = "LogsumexpBackward0"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        m = _stable_max(a, axes)
        out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in axes])

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        g_full = _expand_back(xp, g, self.shape, self.axes, self.keepdim)
        out_full = _expand_back(xp, out, self.shape, self.axes, self.keepdim)
        return (g_full * xp.exp(a - out_full),)


class Softmax(Op):
    node_name = "SoftmaxBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        # axes: the softmax dim, or () for a 0-d input; no guard on an infinite max, so
        # an inf (or a row of -inf) gives NaN, as torch
        self.axes = axes
        e = np.exp(a - a.max(axis=axes, keepdims=True, initial=-np.inf))
        return e / e.sum(axis=axes, keepdims=True)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (out * (g - xp.sum(g * out, self.axes)),)


class LogSoftmax(Op):
    """NOTE: a primitive so the max can be subtracted before exp (no overflow)."""

    node_name = "LogSoftmaxBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes  # as Softmax's
        shifted = a - a.max(axis=axes, keepdims=True, initial=-np.inf)
        return shifted - np.log(np.exp(shifted).sum(axis=axes, keepdims=True))

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g - xp.exp(out) * xp.sum(g, self.axes),)


# ----------------------------------------------------------------------------- losses


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
