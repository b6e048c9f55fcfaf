"""More losses (``nn.functional``): l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,
binary_cross_entropy_with_logits.
Each is recorded as torch records it: one node where torch has a dedicated kernel
(``SmoothL1LossBackward0``, ``HuberLossBackward0``, ``BinaryCrossEntropyBackward0``, ...),
the same composite of ops where torch's is a composite (l1_loss)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import broadcast_error, sum_array
from tapegrad._dtypes import _scalar_type_name
from tapegrad.engine.grad_mode import is_grad_enabled
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.loss import (
    _broadcast_pair,
    _check_reduction,
    _pair_args,
    _reduction_arg,
    _weighted,
)
from tapegrad.ops.reduce import _mean_all
from tapegrad.ops.samples import Array, OpInfo, Sample, functional, normal
from tapegrad.promotion import _result_dtype, _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


def _reduced(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return losses
    return sum_array(losses) if reduction == "sum" else _mean_all(losses)


class _PointwiseLoss(Op):
    """A loss of ``input - target`` elementwise, then reduced, as one node; subclasses give
    the loss (``pointwise``) and its slope (``slope``, written with ``xp``)."""

    __slots__ = ("reduction", "param", "weight")
    saves = (0, 1)

    def forward(
        self, a: np.ndarray, t: np.ndarray, reduction: str, param: float, weight: Any = None
    ) -> np.ndarray:
        self.reduction, self.param, self.weight = reduction, param, weight
        losses = self.pointwise(a, t)
        return _reduced(losses if weight is None else losses * weight, reduction)

    def pointwise(self, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The unreduced losses."""
        raise NotImplementedError

    def slope(self, xp: Any, a: Any, t: Any) -> tuple[Any, Any]:
        """d loss / d input and d loss / d target, elementwise."""
        raise NotImplementedError

    def backward(self, xp: Any, g: Any, a: Any, t: Any) -> tuple[Any, ...]:
        (na, _), (nt, _) = self._edges
        if self.reduction == "mean":
            g = g / int(np.prod(a.shape))
        da, dt = self.slope(xp, a, t)
        if self.weight is not None:
            da, dt = xp.mul_const(da, self.weight), xp.mul_const(dt, self.weight)
        return (da * g if na is not None else None, dt * g if nt is not None else None)


class SmoothL1Loss(_PointwiseLoss):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2``."""

    node_name = "SmoothL1LossBackward0"

    def pointwise(self, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = a - t
        ad = np.abs(d)
        return np.where(ad < self.param, 0.5 * d * d / self.param, ad - 0.5 * self.param)

    def slope(self, xp: Any, a: Any, t: Any) -> tuple[Any, Any]:
        beta = self.param
        d, e = a - t, t - a  # the target's slope is its own (t - a), as torch computes it
        return (
            xp.where(xp.abs(d) < beta, d / beta, xp.sign(d)),
            xp.where(xp.abs(e) < beta, e / beta, xp.sign(e)),
        )


class HuberLoss(_PointwiseLoss):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``."""

    node_name = "HuberLossBackward0"

    def pointwise(self, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = a - t
        ad = np.abs(d)
        return np.where(ad < self.param, 0.5 * d * d, self.param * (ad - 0.5 * self.param))

    def slope(self, xp: Any, a: Any, t: Any) -> tuple[Any, Any]:
        delta = self.param
        d, e = a - t, t - a
        return (
            xp.where(xp.abs(d) < delta, d, xp.sign(d) * delta),
            xp.where(xp.abs(e) < delta, e, xp.sign(e) * delta),
        )


class BinaryCrossEntropy(_PointwiseLoss):
    """``-(t log p + (1 - t) log(1 - p))`` with each log clamped at -100, as torch."""

    node_name = "BinaryCrossEntropyBackward0"

    def pointwise(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        if ((p < 0) | (p > 1) | np.isnan(p)).any():
            raise RuntimeError("all elements of input should be between 0 and 1")
        with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
            return (t - 1) * np.maximum(np.log1p(-p), -100) - t * np.maximum(np.log(p), -100)

    def slope(self, xp: Any, p: Any, t: Any) -> tuple[Any, Any]:
        dp = (p - t) / xp.clip((1 - p) * p, 1e-12, None)  # torch's EPSILON
        dt = xp.clip(xp.log1p(-p), -100, None) - xp.clip(xp.log(p), -100, None)
        return dp, dt


def _log_sigmoid(xp: Any, x: Any) -> Any:
    """log(sigmoid(x)) without overflow: min(x, 0) - log1p(exp(-|x|))."""
    return (x - xp.abs(x)) / 2 - xp.log1p(xp.exp(-xp.abs(x)))


class BinaryCrossEntropyWithLogits(_PointwiseLoss):
    """``(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)``, computed stably, as torch.
    ``param`` is ``pos_weight`` (an array broadcasting to the input, or None)."""

    node_name = "BinaryCrossEntropyWithLogitsBackward0"

    def pointwise(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        softplus = -_log_sigmoid(np, x)
        if self.param is None:
            return (1 - t) * x + softplus
        return (1 - t) * x + ((self.param - 1) * t + 1) * softplus

    def slope(self, xp: Any, x: Any, t: Any) -> tuple[Any, Any]:
        sig = 1 / (1 + xp.exp(-x))
        if self.param is None:
            return sig - t, -x
        pt = xp.mul_const(t, self.param)
        dx = (pt + 1 - t) * sig - pt
        dt = _log_sigmoid(xp, -x) - xp.mul_const(_log_sigmoid(xp, x), self.param)
        return dx, dt


# ------------------------------------------------------------- registry samples


def _np_reduce(losses: Array, reduction: str) -> Array:
    return losses if reduction == "none" else getattr(losses, reduction)()


def _np_l1(a: Array, t: Array, reduction: str = "mean") -> Array:
    return _np_reduce(np.abs(a - t), reduction)


def _np_smooth_l1(a: Array, t: Array, reduction: str = "mean", beta: float = 1.0) -> Array:
    d = np.abs(a - t)
    return _np_reduce(np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def _np_huber(a: Array, t: Array, reduction: str = "mean", delta: float = 1.0) -> Array:
    d = np.abs(a - t)
    return _np_reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


def _np_bce(p: Array, t: Array, weight: Array | None = None, reduction: str = "mean") -> Array:
    losses = -(t * np.log(p) + (1 - t) * np.log1p(-p))
    return _np_reduce(losses if weight is None else losses * weight, reduction)


def _np_bce_logits(
    x: Array,
    t: Array,
    weight: Array | None = None,
    reduction: str = "mean",
    pos_weight: Array | None = None,
) -> Array:
    pw = 1.0 if pos_weight is None else pos_weight
    sig = 1 / (1 + np.exp(-x))
    losses = -(pw * t * np.log(sig) + (1 - t) * np.log1p(-sig))
    return _np_reduce(losses if weight is None else losses * weight, reduction)


def _pair_samples(
    make_a: Any, make_t: Any, *cases: tuple[tuple[int, ...], str, dict[str, Any]]
) -> Any:
    def samples(rng: np.random.Generator) -> list[Sample]:
        return [Sample((make_a(rng, s), make_t(rng, s)), d, dict(kw)) for s, d, kw in cases]

    return samples


def _unit(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return rng.uniform(0.05, 0.95, shape)


def _const(ns: Any, value: Any, like: Any) -> Any:
    """A numpy keyword argument as a constant tensor of ``like``'s dtype (either library)."""
    return None if value is None else ns.tensor(np.asarray(value)).to(like.dtype)


def _bce_fn(ns: Any, p: Any, t: Any, weight: Any = None, **kw: Any) -> Any:
    return functional(ns).binary_cross_entropy(p, t, _const(ns, weight, p), **kw)


def _bce_logits_fn(
    ns: Any, x: Any, t: Any, weight: Any = None, pos_weight: Any = None, **kw: Any
) -> Any:
    return functional(ns).binary_cross_entropy_with_logits(
        x, t, _const(ns, weight, x), pos_weight=_const(ns, pos_weight, x), **kw
    )


_MATRIX = (3, 4)
_REDUCTIONS_CASES = (
    (_MATRIX, "mean", {}),
    ((5,), "sum", {"reduction": "sum"}),
    ((2, 1, 3), "none", {"reduction": "none"}),
)


# ---------------------------------------------------------------- nn.functional


@declare(
    functional=True,
    tests=[
        OpInfo(
            name,
            node,
            lambda ns, a, t, **kw: functional(ns).l1_loss(a, t, **kw),
            _np_l1,
            _pair_samples(normal, normal, (_MATRIX, desc, kw), ((), f"0-d {desc}", kw)),
        )
        for name, node, desc, kw in (
            ("l1_loss", "MeanBackward0", "mean", {}),
            ("l1_loss_sum", "SumBackward0", "sum", {"reduction": "sum"}),
            ("l1_loss_none", "AbsBackward0", "none", {"reduction": "none"}),
        )
    ],
)
def l1_loss(
    input: Tensor,  # noqa: A002 - torch's name
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Absolute error ``|input - target|``, reduced by ``'mean'``, ``'sum'`` or ``'none'``
    (``weight``, of input's shape, multiplies each term; the weighted mean divides by its sum).
    Recorded as torch's composite: ``MeanBackward0 <- AbsBackward0 <- SubBackward0``."""
    input, target = _pair_args(input, target, "l1_loss")  # noqa: A001
    reduction = _reduction_arg(size_average, reduce, reduction)
    return _l1(input, target, reduction, weight)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "smooth_l1_loss",
            "SmoothL1LossBackward0",
            lambda ns, a, t, **kw: functional(ns).smooth_l1_loss(a, t, **kw),
            _np_smooth_l1,
            _pair_samples(normal, normal, *_REDUCTIONS_CASES, (_MATRIX, "beta", {"beta": 0.7})),
        )
    ],
)
def smooth_l1_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2`` (``d = input -
    target``), reduced; ``beta=0`` is ``l1_loss``."""
    input, target = _pair_args(input, target, "smooth_l1_loss")  # noqa: A001
    reduction = _reduction_arg(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _l1(input, target, reduction, None)
    return _pointwise_node(SmoothL1Loss, input, target, reduction, float(beta))


@declare(
    functional=True,
    tests=[
        OpInfo(
            "huber_loss",
            "HuberLossBackward0",
            lambda ns, a, t, **kw: functional(ns).huber_loss(a, t, **kw),
            _np_huber,
            _pair_samples(normal, normal, *_REDUCTIONS_CASES, (_MATRIX, "delta", {"delta": 0.6})),
        )
    ],
)
def huber_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``, reduced
    (``weight``, of input's shape, multiplies each term before the reduction)."""
    input, target = _pair_args(input, target, "huber_loss")  # noqa: A001
    reduction = _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is None:
        return _pointwise_node(HuberLoss, input, target, reduction, float(delta))
    losses = _pointwise_node(HuberLoss, input, target, "none", float(delta))
    return _weighted(losses, input, weight, reduction, divide_by_weight=False)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "binary_cross_entropy",
            "BinaryCrossEntropyBackward0",
            _bce_fn,
            _np_bce,
            _pair_samples(
                _unit,
                _unit,
                *_REDUCTIONS_CASES,
                (_MATRIX, "weight", {"weight": np.linspace(0.5, 2.0, 4)}),
            ),
        )
    ],
)
def binary_cross_entropy(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``-w (t log p + (1 - t) log(1 - p))`` of probabilities ``input`` and targets in [0, 1]
    (each log clamped at -100, as torch), reduced; ``weight`` broadcasts to the input."""
    input = _tensor_arg(input, "input", "binary_cross_entropy")  # noqa: A001
    target = _tensor_arg(target, "target", "binary_cross_entropy")
    reduction = _reduction_arg(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({list(target.shape)}) that is different to the input size "
            f"({list(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    if target._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"Found dtype {_scalar_type_name(target._data.dtype)} but expected "
            f"{_scalar_type_name(input._data.dtype)}"
        )
    w = _constant(weight, input, "binary_cross_entropy", "weight")
    return _run_op(
        BinaryCrossEntropy(),
        (input, target),
        (input._data, target._data),
        reduction=reduction,
        param=0.0,
        weight=w,
    )


@declare(
    functional=True,
    tests=[
        OpInfo(
            "binary_cross_entropy_with_logits",
            "BinaryCrossEntropyWithLogitsBackward0",
            _bce_logits_fn,
            _np_bce_logits,
            _pair_samples(
                normal,
                _unit,
                *_REDUCTIONS_CASES,
                (_MATRIX, "weight", {"weight": np.linspace(0.5, 2.0, 4)}),
                (_MATRIX, "pos_weight", {"pos_weight": np.linspace(0.5, 3.0, 4)}),
                (
                    _MATRIX,
                    "both, sum",
                    {"weight": np.full(4, 0.7), "pos_weight": np.full(4, 2.0), "reduction": "sum"},
                ),
            ),
        )
    ],
)
def binary_cross_entropy_with_logits(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross entropy of ``sigmoid(input)``, computed stably from the logits;
    ``pos_weight`` (broadcast along the last dimension) weighs the positive term."""
    input = _tensor_arg(input, "input", "binary_cross_entropy_with_logits")  # noqa: A001
    target = _tensor_arg(target, "target", "binary_cross_entropy_with_logits")
    reduction = _reduction_arg(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({list(target.shape)}) must be the same as input size "
            f"({list(input.shape)})"
        )
    name = "binary_cross_entropy_with_logits"
    w = _constant(weight, input, name, "weight")
    pw = _constant(pos_weight, input, name, "pos_weight")
    a, t = input._data, target._data
    if a.dtype != t.dtype:
        dtype = _result_dtype(input, target)
        a, t = a.astype(dtype, copy=False), t.astype(dtype, copy=False)
    return _run_op(
        BinaryCrossEntropyWithLogits(),
        (input, target),
        (a, t),
        reduction=reduction,
        param=pw,
        weight=w,
    )


# -------------------------------------------------- how the losses are recorded


def _l1(input: Tensor, target: Tensor, reduction: str, weight: Any) -> Tensor:  # noqa: A002
    a, t = _broadcast_pair(input, target)
    losses = (a - t).abs()
    if weight is not None:
        return _weighted(losses, input, weight, reduction, divide_by_weight=True)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _pointwise_node(
    op_cls: type[_PointwiseLoss],
    input: Tensor,  # noqa: A002
    target: Tensor,
    reduction: str,
    param: float,
) -> Tensor:
    """One node of ``op_cls`` on the broadcast inputs, in their promoted dtype."""
    a, t = _broadcast_pair(input, target)
    ad, td = a._data, t._data
    if ad.dtype != td.dtype:
        dtype = _result_dtype(a, t)
        ad, td = ad.astype(dtype, copy=False), td.astype(dtype, copy=False)
    return _run_op(op_cls(), (a, t), (ad, td), reduction=reduction, param=param)


def _constant(weight: Any, input: Tensor, name: str, arg: str) -> np.ndarray | None:  # noqa: A002
    """A weight tensor as an array of the input's dtype broadcast to it; torch refuses one
    that requires grad (these kernels have no gradient for it)."""
    if weight is None:
        return None
    weight = _tensor_arg(weight, arg, name)
    if weight.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"The function '{name}' is not differentiable with respect to argument '{arg}'. "
            "This input cannot have requires_grad True."
        )
    message = broadcast_error(weight.shape, input.shape)
    if message:
        raise RuntimeError(message)
    return weight._data.astype(input._data.dtype, copy=False)
