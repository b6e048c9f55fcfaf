"""Margin losses (``nn.functional``): soft_margin_loss (one ``SoftMarginLossBackward0`` node,
as torch), margin_ranking_loss and cosine_embedding_loss (torch's composites of ops)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import broadcast_error
from tapegrad.engine.grad_mode import is_grad_enabled
from tapegrad.ops.base import Op
from tapegrad.ops.compare import where
from tapegrad.ops.declare import declare
from tapegrad.ops.loss import _broadcast_pair, _reduction_arg
from tapegrad.ops.loss_entropy import AddScalar
from tapegrad.ops.loss_more import _np_reduce, _reduced
from tapegrad.ops.samples import Array, OpInfo, Sample, functional, normal
from tapegrad.promotion import _result_dtype, _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

_EPSILON = 1e-12  # torch's, added to the squared norms of cosine_embedding_loss

# -------------------------------------------------------------------------- ops


class SoftMarginLoss(Op):
    """``log(1 + exp(-target * input))``, as torch computes it; the target is a constant (an
    edge only for the input, as torch's node)."""

    __slots__ = ("reduction", "target")
    node_name = "SoftMarginLossBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        self.reduction, self.target = reduction, target
        return _reduced(np.log1p(np.exp(-a * target)), reduction)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        if self.reduction == "mean":
            g = g / self.target.size
        z = xp.exp(xp.mul_const(a, -self.target))
        return (xp.mul_const(z / (1 + z), -self.target) * g,)


class ClampMin(Op):
    """``clamp_min(x, low)`` (``ClampMinBackward0``): the gradient passes where x >= low."""

    __slots__ = ("low",)
    node_name = "ClampMinBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, low: float) -> np.ndarray:
        self.low = low
        return np.maximum(a, a.dtype.type(low))

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (xp.where(a >= self.low, g, 0.0),)


class SubScalar(Op):
    """``tensor - number`` as torch's C++ code records it (``SubBackward1``)."""

    __slots__ = ()
    node_name = "SubBackward1"

    def forward(self, a: np.ndarray, term: float) -> np.ndarray:
        return a - term

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


def _clamp_min(a: Tensor, low: float) -> Tensor:
    return _run_op(ClampMin(), (a,), (a._data,), low=low)


def _add_scalar(a: Tensor, term: float, op_cls: type[Op] = AddScalar) -> Tensor:
    return _run_op(op_cls(), (a,), (a._data,), term=term)


# ------------------------------------------------------------- registry samples


def _np_soft_margin(a: Array, target: Array, reduction: str = "mean") -> Array:
    return _np_reduce(np.log1p(np.exp(-a * target)), reduction)


def _np_ranking(a: Array, b: Array, target: Any, margin: float = 0.0, reduction: str = "mean"):
    return _np_reduce(np.maximum(-target * (a - b) + margin, 0), reduction)


def _np_cosine(a: Array, b: Array, target: Any, margin: float = 0.0, reduction: str = "mean"):
    dim = np.ndim(target)
    cos = (a * b).sum(dim) / np.sqrt(((a * a).sum(dim) + _EPSILON) * ((b * b).sum(dim) + _EPSILON))
    out = np.where(target == 1, 1 - cos, 0) + np.where(target == -1, np.maximum(cos - margin, 0), 0)
    return _np_reduce(out, reduction)


def _signs(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    return np.where(rng.standard_normal(shape) > 0, 1.0, -1.0)


def _soft_margin_samples(rng: np.random.Generator) -> list[Sample]:
    cases = (
        ((3, 4), "mean", {}),
        ((5,), "sum", {"reduction": "sum"}),
        ((2, 3), "none", {"reduction": "none"}),
    )
    return [
        Sample((normal(rng, shape),), desc, {"target": _signs(rng, shape), **kw})
        for shape, desc, kw in cases
    ]


def _triple_samples(shapes: tuple[tuple[int, ...], tuple[int, ...]], margin: float) -> Any:
    def samples(rng: np.random.Generator) -> list[Sample]:
        ab, t = shapes
        return [
            Sample((normal(rng, ab), normal(rng, ab)), "mean", {"target": _signs(rng, t)}),
            Sample(
                (normal(rng, ab), normal(rng, ab)),
                "margin",
                {"target": _signs(rng, t), "margin": margin},
            ),
        ]

    return samples


def _triple_fn(name: str) -> Any:
    def fn(ns: Any, a: Any, b: Any, target: Any, **kw: Any) -> Any:
        return getattr(functional(ns), name)(a, b, ns.tensor(np.asarray(target)).to(a.dtype), **kw)

    return fn


# ---------------------------------------------------------------- nn.functional


@declare(
    functional=True,
    tests=[
        OpInfo(
            "soft_margin_loss",
            "SoftMarginLossBackward0",
            lambda ns, a, target, **kw: functional(ns).soft_margin_loss(
                a, ns.tensor(np.asarray(target)).to(a.dtype), **kw
            ),
            _np_soft_margin,
            _soft_margin_samples,
        )
    ],
)
def soft_margin_loss(
    input: Tensor,  # noqa: A002 - torch's name
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` (targets 1 or -1), reduced."""
    input = _tensor_arg(input, "input", "soft_margin_loss")  # noqa: A001
    target = _tensor_arg(target, "target", "soft_margin_loss")
    reduction = _reduction_arg(size_average, reduce, reduction)
    if target.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "The function 'soft_margin_loss' is not differentiable with respect to argument "
            "'target'. This input cannot have requires_grad True."
        )
    a, t = _broadcast_pair(input, target.detach())
    ad, td = a._data, t._data
    if ad.dtype != td.dtype:
        dtype = _result_dtype(a, t)
        ad, td = ad.astype(dtype, copy=False), td.astype(dtype, copy=False)
    return _run_op(SoftMarginLoss(), (a,), (ad,), target=td, reduction=reduction)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "margin_ranking_loss",
            "MeanBackward0",
            _triple_fn("margin_ranking_loss"),
            _np_ranking,
            _triple_samples(((6,), (6,)), 0.3),
        )
    ],
)
def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)`` (targets 1 or -1), reduced."""
    reduction = _reduction_arg(size_average, reduce, reduction)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {_size(input1)}, input2: {_size(input2)}, target: {_size(target)} "
        )
    out = _clamp_min(_add_scalar(-target * (input1 - input2), margin), 0)
    return _reduce(out, reduction)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "cosine_embedding_loss",
            "MeanBackward0",
            _triple_fn("cosine_embedding_loss"),
            _np_cosine,
            _triple_samples(((4, 3), (4,)), 0.2),
        )
    ],
)
def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``1 - cos(input1, input2)`` where the target is 1, ``max(0, cos - margin)`` where it is
    -1 (0 elsewhere), the cosine taken along the last dimension, reduced."""
    reduction = _reduction_arg(size_average, reduce, reduction)
    dim = target.ndim
    if dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if not input1.ndim == input2.ndim == dim + 1:
        raise RuntimeError(
            f"{dim}D target tensor expects {dim + 1}D input tensors, but found inputs with "
            f"sizes {list(input1.shape)} and {list(input2.shape)}."
        )
    message = broadcast_error(input1.shape, input2.shape)
    if message:
        raise RuntimeError(message)
    prod_sum = (input1 * input2).sum(dim)
    mag1 = _add_scalar((input1 * input1).sum(dim), _EPSILON)
    mag2 = _add_scalar((input2 * input2).sum(dim), _EPSILON)
    cos = prod_sum / (mag1 * mag2).sqrt()
    zeros = _wrap(np.zeros(cos.shape, cos._data.dtype))
    pos = _wrap(np.ones((), cos._data.dtype)) - cos
    neg = _clamp_min(_add_scalar(cos, margin, SubScalar), 0)
    out = where(target == 1, pos, zeros) + where(target == -1, neg, zeros)
    return _reduce(out, reduction)


def _reduce(out: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()


def _size(t: Tensor) -> str:
    return f"torch.Size({list(t.shape)})"
