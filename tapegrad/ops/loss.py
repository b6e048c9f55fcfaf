"""Losses: mse_loss and nll_loss (``nn.functional``), each recorded as torch records it (one
``MseLossBackward0`` or ``NllLossBackward0`` node where torch has one),
and the argument handling every loss shares (legacy ``size_average``/``reduce``, the
reduction names, torch's size-mismatch warning, broadcasting the two inputs)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tapegrad._array import broadcast_error, sum_array
from tapegrad._dtypes import _scalar_type_name
from tapegrad.ops.base import HoldingOp, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.reduce import _mean_all
from tapegrad.ops.samples import Array, OpInfo, Sample, fixed, functional
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
    """``nll_loss`` of (C,), (N, C) (or, as ``NllLoss2D``, (N, C, H, W)) log-probabilities at
    class indices, as one node: ``-weight[t] * logp[..., t, ...]`` where the target ``t`` is not
    ``ignore_index``, reduced by none, sum, or mean (divided by the sum of those weights)."""

    node_name = "NllLossBackward0"
    held = ("key",)

    def forward(
        self,
        logp: np.ndarray,
        labels: np.ndarray,
        weight: np.ndarray | None,
        ignore_index: int,
        reduction: str,
    ) -> np.ndarray:
        # checked here, in the op, so that a compiled step's replay checks every batch too
        _check_target_range(labels, logp.shape[0 if logp.ndim == 1 else 1], ignore_index)
        flat = labels.reshape(-1)
        pos = np.flatnonzero(flat != ignore_index)
        classes = flat[pos]
        if logp.ndim == 1:
            key: tuple[np.ndarray, ...] = (classes,)
        elif logp.ndim == 2:
            key = (pos, classes)
        else:
            where = np.unravel_index(pos, labels.shape)
            key = (where[0], classes, *where[1:])
        self.key, self.pos, self.shape, self.n = key, pos, logp.shape, flat.size
        self.reduction = reduction
        self.w = None if weight is None else weight[classes]
        losses = np.zeros(flat.size, logp.dtype)
        losses[pos] = -logp[key] if self.w is None else -logp[key] * self.w
        if reduction == "none":
            return losses.reshape(labels.shape)
        if reduction == "sum":
            return sum_array(losses)
        self.total = logp.dtype.type(pos.size if self.w is None else sum_array(self.w))
        with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: 0 / 0, as torch
            return np.asarray(sum_array(losses) / self.total, logp.dtype)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        if self.reduction == "none":
            picked = -xp.index(xp.reshape(g, (self.n,)), self.pos)
        else:
            scale = g / self.total if self.reduction == "mean" else g
            picked = xp.expand(-scale, self.pos.shape)
        if self.w is not None:
            picked = xp.mul_const(picked, self.w)
        return (xp.index_into_zeros(picked, self.shape, self.key, False),)


class NllLoss2D(NllLoss):
    """``nll_loss`` of (N, C, H, W) log-probabilities (and of the other N-d inputs, viewed as
    (N, C, 1, -1)), as torch's ``nll_loss2d``."""

    node_name = "NllLoss2DBackward0"


# ------------------------------------------------------------- registry samples


def _np_mse_loss(a: Array, b: Array, reduction: str = "mean") -> Array:
    squared = (a - b) ** 2
    return squared if reduction == "none" else getattr(squared, reduction)()


def _np_nll_loss(
    logp: Array,
    target: Array,
    weight: Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Array:
    """torch's nll_loss for (N, C, ...) inputs, in numpy."""
    moved = np.moveaxis(logp, 1, -1) if logp.ndim > 1 else logp
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    w = np.ones(logp.shape[1 if logp.ndim > 1 else 0]) if weight is None else weight
    wt = w[safe] * keep
    losses = -np.take_along_axis(moved, safe[..., None], -1)[..., 0] * wt
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / wt.sum()


def _nll_samples(rng: np.random.Generator) -> list[Sample]:
    def case(shape: tuple[int, ...], desc: str, **kw: Any) -> Sample:
        target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
        target = rng.integers(0, shape[1 if len(shape) > 1 else 0], target_shape)
        return Sample((rng.standard_normal(shape),), desc, {"target": target, **kw})

    weight = np.array([0.5, 2.0, 1.5, 1.0])
    return [
        case((3, 4), "mean"),
        case((3, 4), "sum", reduction="sum"),
        case((3, 4), "none", reduction="none"),
        case((3, 4), "weight", weight=weight),
        case((4,), "(C,) weight none", weight=weight, reduction="none"),
        case((5, 4), "ignore_index", ignore_index=1, weight=weight),
    ]


def _nll_2d_samples(rng: np.random.Generator) -> list[Sample]:
    target = rng.integers(0, 3, (2, 2, 3))
    target[0, 0, 0] = -100
    weight = np.array([0.5, 2.0, 1.5])
    shape = (2, 3, 2, 3)
    return [
        Sample((rng.standard_normal(shape),), "4-d", {"target": target}),
        Sample((rng.standard_normal(shape),), "4-d none", {"target": target, "reduction": "none"}),
        Sample(
            (rng.standard_normal(shape),),
            "4-d weight sum",
            {"target": target, "weight": weight, "reduction": "sum"},
        ),
        Sample((rng.standard_normal((2, 3, 4)),), "3-d", {"target": target.reshape(2, 6)[:, :4]}),
    ]


def _nll_fn(ns: Any, a: Any, target: Any, weight: Any = None, **kw: Any) -> Any:
    weight = None if weight is None else ns.tensor(np.asarray(weight)).to(a.dtype)
    return functional(ns).nll_loss(a, ns.tensor(np.asarray(target)), weight, **kw)


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
def mse_loss(
    input: Tensor,  # noqa: A002 - torch's name
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Squared error ``(input - target) ** 2``, reduced by ``'mean'``, ``'sum'`` or ``'none'``
    (``weight``, of input's shape, multiplies each term; the weighted mean divides by its sum).

    Warns, as torch does, when the shapes differ (they are then broadcast).
    """
    input, target = _pair_args(input, target, "mse_loss")  # noqa: A001
    reduction = _reduction_arg(size_average, reduce, reduction)
    if weight is not None:
        a, t = _broadcast_pair(input, target)
        return _weighted((a - t).pow(2), input, weight, reduction, divide_by_weight=True)
    return _mse_loss_node(input, target, reduction)


@declare(
    functional=True,
    tests=[
        OpInfo("nll_loss", "NllLossBackward0", _nll_fn, _np_nll_loss, _nll_samples),
        OpInfo("nll_loss_2d", "NllLoss2DBackward0", _nll_fn, _np_nll_loss, _nll_2d_samples),
    ],
)
def nll_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log likelihood of log-probabilities ``input`` ((N, C), (C,) or (N, C, d1,
    ...)) at the class indices ``target``, each weighted by ``weight[target]``; targets equal
    to ``ignore_index`` contribute nothing, and the mean divides by the sum of the weights of
    the others."""
    input, target = _class_loss_args(input, target, "nll_loss")  # noqa: A001
    reduction = _reduction_arg(size_average, reduce, reduction)
    _check_class_target(input, target)
    return _nll_loss(input, target, _class_weight(weight, input), ignore_index, reduction)


# -------------------------------------------------- how the losses are recorded


def _mse_loss_node(input: Tensor, target: Tensor, reduction: str) -> Tensor:  # noqa: A002
    """``F.mse_loss``: one ``MseLossBackward0`` node, as torch; shapes that differ are
    broadcast by expanding both first, dtypes that differ computed in the promoted one."""
    a, t = _broadcast_pair(input, target)
    ad, td = a._data, t._data
    if ad.dtype != td.dtype:
        dtype = _result_dtype(a, t)
        ad, td = ad.astype(dtype, copy=False), td.astype(dtype, copy=False)
    return _run_op(MseLoss(), (a, t), (ad, td), reduction=reduction)


def _nll_loss(
    logp: Tensor, target: Tensor, weight: np.ndarray | None, ignore_index: int, reduction: str
) -> Tensor:
    """One ``NllLossBackward0`` node for 1-d and 2-d inputs, ``NllLoss2DBackward0`` for 4-d;
    other N-d inputs are viewed as (N, C, 1, -1) first (and a ``'none'`` result viewed back
    to the target's shape), as torch does."""
    labels = target._data.astype(np.int64, copy=False)
    op_cls = NllLoss if logp.ndim <= 2 else NllLoss2D
    if logp.ndim == 3 or logp.ndim > 4:
        n, c = logp.shape[:2]
        rest = (1, -1) if logp.numel() else (0, 0)  # as torch: -1 cannot be inferred from 0
        logp = logp.view(n, c, *rest)
        labels = labels.reshape(n, *rest)
    out = _run_op(
        op_cls(),
        (logp,),
        (logp._data,),
        labels=labels,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
    )
    return out.view(target.shape) if reduction == "none" and out.shape != target.shape else out


def _class_loss_args(input: Any, target: Any, name: str) -> tuple[Tensor, Tensor]:  # noqa: A002
    """The checks cross_entropy and nll_loss share: Tensors, input at least 1-d."""
    input = _tensor_arg(input, "input", name)  # noqa: A001
    target = _tensor_arg(target, "target", name)
    if input.ndim == 0:
        raise RuntimeError(f"{name}: input must have at least 1 dimension, got a 0-d tensor")
    return input, target


def _class_weight(weight: Any, input: Tensor) -> np.ndarray | None:  # noqa: A002
    """The class weights as an array of the input's dtype, checked as torch checks them."""
    if weight is None:
        return None
    weight = _tensor_arg(weight, "weight", "nll_loss")
    classes = input.shape[0 if input.ndim == 1 else 1]
    if weight.ndim != 1 or weight.numel() != classes:
        raise RuntimeError(
            f"weight tensor should be defined either for all {classes} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}"
        )
    if weight._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"expected scalar type {_scalar_type_name(input._data.dtype)} but found "
            f"{_scalar_type_name(weight._data.dtype)}"
        )
    return weight._data


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


def _check_target_range(labels: np.ndarray, classes: int, ignore_index: int) -> None:
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= classes))
    if bad.any():
        raise IndexError(f"Target {labels[bad].flat[0]} is out of bounds.")


# ------------------------------------------------------- what every loss shares


def _pair_args(input: Any, target: Any, name: str) -> tuple[Tensor, Tensor]:  # noqa: A002
    """Both Tensors; torch's warning when their shapes differ (they are then broadcast)."""
    input = _tensor_arg(input, "input", name)  # noqa: A001
    target = _tensor_arg(target, "target", name)
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({list(target.shape)}) that is different to the input size "
            f"({list(input.shape)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )
    return input, target


def _broadcast_pair(a: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.broadcast_tensors(a, t)``: each expanded when its shape is not the common one."""
    if a.shape == t.shape:
        return a, t
    message = broadcast_error(a.shape, t.shape)
    if message:
        raise RuntimeError(message)
    shape = np.broadcast_shapes(a.shape, t.shape)
    return (a if a.shape == shape else a.expand(shape)), (
        t if t.shape == shape else t.expand(shape)
    )


def _weighted(
    losses: Tensor,
    input: Tensor,
    weight: Any,
    reduction: str,
    divide_by_weight: bool,  # noqa: A002
) -> Tensor:
    """``losses * weight`` reduced as torch's weighted mse/l1 (mean: divided by the weights'
    sum) or huber (mean: ``.mean()``) losses reduce them."""
    weight = _tensor_arg(weight, "weight", "loss")
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = losses * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weight.sum() if divide_by_weight else weighted.mean()


def _reduction_arg(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """The reduction, from the deprecated ``size_average``/``reduce`` when either is given
    (with torch's warning); an unknown name raises torch's ValueError."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(
            "size_average and reduce args will be deprecated, please use "
            f"reduction='{reduction}' instead.",
            UserWarning,
            stacklevel=3,
        )
    return _check_reduction(reduction)


def _check_reduction(reduction: str) -> str:
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            UserWarning,
            stacklevel=4,
        )
        return "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction
