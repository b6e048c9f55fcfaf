"""cross_entropy and kl_div (``nn.functional``), and ``xlogy`` (the Tensor op kl_div is made
of). cross_entropy: class indices or class probabilities, class weights,
``ignore_index``, label smoothing and N-d inputs, recorded as torch's composite
(``NllLossBackward0`` over ``LogSoftmaxBackward0``; the smoothing and probability forms as the
sums, masks and scalings torch's C++ code records)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tapegrad._dtypes import _scalar_type_name
from tapegrad.factories import from_numpy
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.division import DivScalar
from tapegrad.ops.loss import (
    _check_class_target,
    _check_reduction,
    _class_loss_args,
    _class_weight,
    _nll_loss,
    _np_nll_loss,
    _reduction_arg,
)
from tapegrad.ops.loss_more import _MATRIX, _np_reduce, _pair_samples, _unit
from tapegrad.ops.samples import (
    Array,
    OpInfo,
    Sample,
    binary_samples,
    functional,
    normal,
    positive,
)
from tapegrad.promotion import _binary, _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor


class MulScalar(Op):
    """``tensor * number`` as torch's C++ losses record it (the Scalar overload)."""

    __slots__ = ("factor",)
    node_name = "MulBackward1"

    def forward(self, a: np.ndarray, factor: float) -> np.ndarray:
        self.factor = factor
        return a * factor

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g * self.factor,)


class Xlogy(Op):
    """``x * log(y)``, 0 where ``x == 0`` (NaN where ``y`` is NaN), as ``torch.xlogy``."""

    __slots__ = ()
    node_name = "XlogyBackward0"
    saves = (0, 1)
    int_to_float = True

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # inf and nan, as torch
            out = np.where(x == 0, np.zeros((), np.result_type(x, y)), x * np.log(y))
        return np.where(np.isnan(y), np.nan, out).astype(out.dtype, copy=False)

    def backward(self, xp: Any, g: Any, x: Any, y: Any) -> tuple[Any, ...]:
        (nx, _), (ny, _) = self._edges
        return (
            g * xp.where(x != 0, xp.log(y), 0.0) if nx is not None else None,
            g * x / y if ny is not None else None,
        )


class AddScalar(Op):
    """``tensor + number`` as torch's C++ code records it (the Scalar overload)."""

    __slots__ = ()
    node_name = "AddBackward1"

    def forward(self, a: np.ndarray, term: float) -> np.ndarray:
        return a + term

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


# ------------------------------------------------------------- registry samples


def _np_kl_div(a: Array, t: Array, reduction: str = "mean", log_target: bool = False) -> Array:
    losses = np.exp(t) * (t - a) if log_target else t * np.log(t) - t * a
    if reduction == "batchmean":
        return losses.sum() / a.shape[0]
    return _np_reduce(losses, reduction)


def _np_cross_entropy(
    a: Array,
    target: Array,
    weight: Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Array:
    """torch's cross_entropy of (N, C, ...) logits, in numpy."""
    shifted = a - a.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    classes = a.shape[1]
    w = np.ones(classes) if weight is None else weight
    wshape = (1, classes) + (1,) * (a.ndim - 2)
    if target.shape == a.shape:
        target = target * (1 - label_smoothing) + label_smoothing / classes
        losses = -(logp * w.reshape(wshape) * target).sum(1)
        if reduction == "none":
            return losses
        return losses.sum() if reduction == "sum" else losses.sum() / (a.size // classes)
    nll = _np_nll_loss(logp, target, weight, ignore_index, reduction)
    keep = target != ignore_index
    smooth = -(logp * w.reshape(wshape)).sum(1) * keep
    if reduction != "none":
        total = w[np.where(keep, target, 0)][keep].sum()
        smooth = smooth.sum() / total if reduction == "mean" else smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


def _class_case(rng: np.random.Generator, shape: tuple[int, ...], desc: str, **kw: Any) -> Sample:
    target = rng.integers(0, shape[1], shape[:1] + shape[2:])
    return Sample((rng.standard_normal(shape),), desc, {"target": target, **kw})


_WEIGHT = np.array([0.5, 2.0, 1.5])


def _ce_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        _class_case(rng, (4, 3), "mean"),
        _class_case(rng, (4, 3), "sum", reduction="sum"),
        _class_case(rng, (4, 3), "weight ignore_index", weight=_WEIGHT, ignore_index=2),
        _class_case(rng, (2, 3, 2, 2), "4-d", reduction="none"),
    ]


def _smooth_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        _class_case(rng, (4, 3), "mean", label_smoothing=0.2),
        _class_case(rng, (4, 3), "weight", weight=_WEIGHT, label_smoothing=0.1, ignore_index=1),
        _class_case(rng, (4, 3), "sum", label_smoothing=0.3, reduction="sum"),
        _class_case(rng, (2, 3, 4), "3-d none", label_smoothing=0.1, reduction="none"),
    ]


def _probs(rng: np.random.Generator, shape: tuple[int, ...], desc: str, **kw: Any) -> Sample:
    target = rng.uniform(0.1, 1.0, shape)
    target /= target.sum(1, keepdims=True)
    return Sample((rng.standard_normal(shape), target), desc, kw)


def _prob_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        _probs(rng, (4, 3), "mean"),
        _probs(rng, (2, 3, 2), "3-d weight", weight=_WEIGHT),
        _probs(rng, (4, 3), "label_smoothing", label_smoothing=0.2),
    ]


def _prob_sum_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        _probs(rng, (4, 3), "sum", reduction="sum"),
        _probs(rng, (4, 3), "none weight", reduction="none", weight=_WEIGHT),
    ]


def _ce_fn(ns: Any, a: Any, target: Any = None, weight: Any = None, **kw: Any) -> Any:
    if not hasattr(target, "shape") or isinstance(target, np.ndarray):
        target = ns.tensor(np.asarray(target))
    weight = None if weight is None else ns.tensor(np.asarray(weight)).to(a.dtype)
    return functional(ns).cross_entropy(a, target, weight, **kw)


# ---------------------------------------------------------------- nn.functional


@declare(
    functional=True,
    tests=[
        OpInfo("cross_entropy", "NllLossBackward0", _ce_fn, _np_cross_entropy, _ce_samples),
        OpInfo(
            "cross_entropy_smoothing", "AddBackward0", _ce_fn, _np_cross_entropy, _smooth_samples
        ),
        OpInfo("cross_entropy_probs", "DivBackward1", _ce_fn, _np_cross_entropy, _prob_samples),
        OpInfo(
            "cross_entropy_probs_sum", "NegBackward0", _ce_fn, _np_cross_entropy, _prob_sum_samples
        ),
    ],
)
def cross_entropy(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy between logits and class indices (or class probabilities).

    ``input`` is (N, C), (C,) or (N, C, d1, ...); ``target`` holds int64 class indices of shape
    (N,), () or (N, d1, ...), or float probabilities of ``input``'s shape. ``weight`` (C,)
    weighs each class; targets equal to ``ignore_index`` contribute nothing and are left out
    of the mean; ``label_smoothing`` mixes the target with the uniform distribution.
    """
    input, target = _class_loss_args(input, target, "cross_entropy")  # noqa: A001
    reduction = _reduction_arg(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {float(label_smoothing)}"
        )
    weights = _class_weight(weight, input)
    class_dim = 0 if input.ndim == 1 else 1
    if target.shape == input.shape:
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return soft_cross_entropy(input, target, weight, class_dim, reduction, label_smoothing)
    _check_class_target(input, target)
    logp = input.log_softmax(class_dim)
    nll = _nll_loss(logp, target, weights, ignore_index, reduction)
    if not label_smoothing:
        return nll
    smooth = smoothing_term(logp, target, weight, class_dim, ignore_index, reduction)
    classes = input.shape[class_dim]
    return mul_scalar(nll, 1 - label_smoothing) + mul_scalar(smooth, label_smoothing / classes)


@declare(
    tests=[
        OpInfo(
            "xlogy",
            "XlogyBackward0",
            lambda ns, a, b: ns.xlogy(a, b),
            lambda a, b: a * np.log(b),
            binary_samples(normal, positive),
        )
    ]
)
def xlogy(self: Tensor, other: Any) -> Tensor:
    """``self * log(other)``, 0 where ``self`` is 0 (NaN where ``other`` is NaN)."""
    return _binary(Xlogy, self, other)


def _kl_cases() -> Any:
    shape = (3, 4)
    return lambda rng: [
        Sample((normal(rng, shape), _unit(rng, shape)), "batchmean", {"reduction": "batchmean"}),
        Sample(
            (normal(rng, shape), normal(rng, shape)),
            "log_target",
            {"reduction": "batchmean", "log_target": True},
        ),
    ]


@declare(
    functional=True,
    tests=[
        OpInfo(
            "kl_div",
            "DivBackward0",
            lambda ns, a, t, **kw: functional(ns).kl_div(a, t, **kw),
            _np_kl_div,
            _kl_cases(),
        ),
        OpInfo(
            "kl_div_sum",
            "SumBackward0",
            lambda ns, a, t, **kw: functional(ns).kl_div(a, t, **kw),
            _np_kl_div,
            _pair_samples(normal, _unit, (_MATRIX, "sum", {"reduction": "sum"})),
        ),
    ],
)
def kl_div(
    input: Tensor,  # noqa: A002
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence of log-probabilities ``input`` from ``target`` (given as
    probabilities, or as log-probabilities with ``log_target=True``): ``target * (log(target)
    - input)`` reduced by ``'mean'`` (over every element: torch warns), ``'batchmean'`` (the
    sum divided by the batch size), ``'sum'`` or ``'none'``."""
    input = _tensor_arg(input, "input", "kl_div")  # noqa: A001
    target = _tensor_arg(target, "target", "kl_div")
    if size_average is not None or reduce is not None:
        reduction = _reduction_arg(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            UserWarning,
            stacklevel=2,
        )
    if reduction != "batchmean":
        reduction = _check_reduction(reduction)
    if log_target:
        losses = target.exp() * (target - input)
    else:
        losses = xlogy(target, target) - target * input
    if reduction == "none":
        return losses
    if reduction == "mean":
        return losses.mean()
    total = losses.sum()
    return total / input.shape[0] if reduction == "batchmean" and input.ndim else total


# -------------------------------------------------- how the losses are recorded


def soft_cross_entropy(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None,
    dim: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """Cross entropy against class probabilities, recorded as torch's composite."""
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, got "
            f"{_scalar_type_name(target._data.dtype)}"
        )
    classes = input.shape[dim]
    if label_smoothing > 0:
        # MulBackward1 then AddBackward1, as torch's C++ records the Scalar overloads
        target = mul_scalar(target, 1 - label_smoothing)
        target = _run_op(AddScalar(), (target,), (target._data,), term=label_smoothing / classes)
    products = input.log_softmax(dim) * target
    if weight is not None:  # torch's order: (logp * target) * weight
        products = products * weight.view(_class_shape(input, dim))
    if reduction == "none":
        return -products.sum(dim)
    if reduction == "mean" and not input.numel():
        return -products.sum().fill_(float("nan"))  # as torch: nothing to average
    total = -products.sum()  # torch's structure (and order of summation) for both reductions
    if reduction == "sum":
        return total
    # ``DivBackward1``: how torch's losses divide by a count
    with np.errstate(invalid="ignore", divide="ignore"):
        return _run_op(DivScalar(), (total,), (total._data,), divisor=input.numel() // classes)


def smoothing_term(
    logp: Tensor,
    target: Tensor,
    weight: Tensor | None,
    dim: int,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    """The uniform part of label smoothing for class-index targets: ``-sum(weight * logp)``
    over the classes, 0 where the target is ignored, reduced as torch (the mean divides by the
    weights of the targets kept)."""
    if weight is None:
        smooth = -logp.sum(dim)
    else:
        smooth = -(logp * weight.view(_class_shape(logp, dim))).sum(dim)
    ignored = target == ignore_index
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "none":
        return smooth
    if reduction == "sum":
        return smooth.sum()
    if weight is None:
        count = (~ignored).sum()
    else:
        labels = target._data[~ignored._data].astype(np.int64)
        count = from_numpy(np.asarray(weight._data[labels].sum()))
    with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: 0 / 0, as torch
        return smooth.sum() / count


def mul_scalar(a: Tensor, factor: float) -> Tensor:
    """``a * factor`` recorded as torch's C++ code records it (``MulBackward1``)."""
    return _run_op(MulScalar(), (a,), (a._data,), factor=factor)


def _class_shape(input: Tensor, dim: int) -> tuple[int, ...]:  # noqa: A002
    """The shape that broadcasts a (C,) weight along ``input``'s class dimension."""
    return tuple(input.shape[dim] if i == dim else 1 for i in range(input.ndim))
