"""Smooth elementwise functions: erf, erfc, exp2, expm1, log2, log10, log1p, rsqrt, square,
logaddexp, logaddexp2, lerp and copysign."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad._dtypes import _scalar_type_name
from tapegrad.inplace import _inplace
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.elementwise import (
    broadcastable,
    check_float_only,
    declare_float_inplace,
    float_inplace_binary,
    same_dtype,
    tensor_other,
    unary_entry,
)
from tapegrad.ops.samples import (
    Array,
    OpInfo,
    Sample,
    away_from_zero,
    binary_samples,
    fixed,
    normal,
    positive,
    unary_samples,
)
from tapegrad.promotion import _binary, _float_data, _scalar, _unary
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

# numpy has no erf: the C library's, element by element (correctly rounded to ~1 ulp)
_ERF = np.frompyfunc(math.erf, 1, 1)
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def np_erf(a: Array) -> Array:
    """erf of a float array, in its dtype."""
    return np.asarray(_ERF(a), dtype=a.dtype)


def np_erfc(a: Array) -> Array:
    """erfc of a float array, in its dtype."""
    return np.asarray(_ERFC(a), dtype=a.dtype)


# -------------------------------------------------------------------------- ops


class Erf(Op):
    __slots__ = ()
    node_name = "ErfBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np_erf(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * (_TWO_OVER_SQRT_PI * xp.exp(-(a * a))),)


class Erfc(Op):
    __slots__ = ()
    node_name = "ErfcBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np_erfc(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * (-_TWO_OVER_SQRT_PI * xp.exp(-(a * a))),)


class Exp2(Op):
    __slots__ = ()
    node_name = "Exp2Backward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.exp2(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * (out * _LN2),)


class Expm1(Op):
    __slots__ = ()
    node_name = "Expm1Backward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.expm1(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * (out + 1),)


class Log2(Op):
    __slots__ = ()
    node_name = "Log2Backward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.log2(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / (a * _LN2),)


class Log10(Op):
    __slots__ = ()
    node_name = "Log10Backward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.log10(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / (a * _LN10),)


class Log1p(Op):
    __slots__ = ()
    node_name = "Log1PBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.log1p(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / (a + 1),)


class Rsqrt(Op):
    __slots__ = ()
    node_name = "RsqrtBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.reciprocal(np.sqrt(a))

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * (-0.5 * (out * out * out)),)


class Logaddexp(Op):
    __slots__ = ()
    node_name = "LogaddexpBackward0"
    saves = (0, 1)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.logaddexp(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (
            g / (1 + xp.exp(b - a)) if na is not None else None,
            g / (1 + xp.exp(a - b)) if nb is not None else None,
        )


class Logaddexp2(Op):
    __slots__ = ()
    node_name = "Logaddexp2Backward0"
    saves = (0, 1)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.logaddexp2(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (
            g / (1 + 2.0 ** (b - a)) if na is not None else None,
            g / (1 + 2.0 ** (a - b)) if nb is not None else None,
        )


def _lerp(a: Any, b: Any, w: Any) -> np.ndarray:
    # torch's formula: the exact end point at w = 1, and no cancellation near either end
    return np.where(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


class Lerp(Op):
    """``lerp(end, weight)`` with a number weight."""

    node_name = "LerpBackward0"

    def forward(self, a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
        self.weight = weight
        return _lerp(a, b, weight)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        w = self.weight
        return (g * (1 - w) if na is not None else None, g * w if nb is not None else None)


class LerpTensor(Op):
    """``lerp(end, weight)`` with a tensor weight, differentiable in all three."""

    __slots__ = ()
    node_name = "LerpBackward1"
    saves = (0, 1, 2)
    saved_only_for = {0: 2, 1: 2}

    def forward(self, a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
        return _lerp(a, b, w)

    def backward(self, xp: Any, g: Any, a: Any, b: Any, w: Any) -> tuple[Any, ...]:
        (na, _), (nb, _), (nw, _) = self._edges
        return (
            g * (1 - w) if na is not None else None,
            g * w if nb is not None else None,
            g * (b - a) if nw is not None else None,
        )


class Copysign(Op):
    """``copysign(self, other)``: the gradient is ``result / self`` (0 where self is 0), as
    torch; ``other`` only lends its sign, so its gradient is 0."""

    __slots__ = ()
    node_name = "CopysignBackward0"
    int_to_float = True
    saves = (0, OUT)

    def forward(self, a: np.ndarray, b: Any) -> np.ndarray:
        return np.copysign(a, b)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        ratio = xp.where(a == 0, 0, out / a)
        return (g * ratio if na is not None else None, xp.zeros_like(g) if nb is not None else None)


class CopysignScalar(Op):
    """``copysign(self, number)``."""

    __slots__ = ()
    node_name = "CopysignBackward1"
    saves = (0, OUT)

    def forward(self, a: np.ndarray, other: Any) -> np.ndarray:
        return np.copysign(a, other)

    def backward(self, xp: Any, g: Any, a: Any, out: Any) -> tuple[Any, ...]:
        return (g * xp.where(a == 0, 0, out / a),)


# ------------------------------------------------------------- registry samples


def _np_lerp(a: Array, b: Array, w: Any = None, weight: Any = None) -> Array:
    return a + (weight if w is None else w) * (b - a)


def _lerp_scalar_samples(rng: np.random.Generator) -> list[Sample]:
    pairs = binary_samples(normal)(rng)
    weights = (0.3, 0.7, 0.3, 0.7, 0.3, 1.5)
    return [Sample(s.args, f"{s.desc} w={w}", {"weight": w}) for s, w in zip(pairs, weights)]


_LERP_TENSOR = fixed(
    (((3, 4), (3, 4), (3, 4)), "same shape", {}),
    (((3, 4), (4,), (3, 1)), "broadcast", {}),
    (((), (2, 3), ()), "0-d", {}),
    (((2, 1, 3), (4, 1), (1,)), "3-d", {}),
)


_COPYSIGN_SCALAR = fixed(
    (((3, 4),), "other=-2.0", {"other": -2.0}),
    (((5,),), "other=3", {"other": 3}),
    (((),), "0-d other=-1.5", {"other": -1.5}),
    make=away_from_zero,
)


# ------------------------------------------------- Tensor methods and functions


@declare(tests=[unary_entry("erf", Erf, np_erf, normal)])
def erf(self) -> Tensor:
    """Elementwise error function (integer inputs give float32)."""
    return _unary(Erf, self)


@declare(tests=[unary_entry("erfc", Erfc, np_erfc, normal)])
def erfc(self) -> Tensor:
    """Elementwise complementary error function ``1 - erf(x)``, accurate for large x."""
    return _unary(Erfc, self)


@declare(tests=[unary_entry("exp2", Exp2, np.exp2, normal)])
def exp2(self) -> Tensor:
    """Elementwise ``2 ** x``."""
    return _unary(Exp2, self)


@declare(tests=[unary_entry("expm1", Expm1, np.expm1, normal)])
def expm1(self) -> Tensor:
    """Elementwise ``exp(x) - 1``, accurate near 0."""
    return _unary(Expm1, self)


@declare(tests=[unary_entry("log2", Log2, np.log2, positive)])
def log2(self) -> Tensor:
    """Elementwise base-2 logarithm."""
    return _unary(Log2, self)


@declare(tests=[unary_entry("log10", Log10, np.log10, positive)])
def log10(self) -> Tensor:
    """Elementwise base-10 logarithm."""
    return _unary(Log10, self)


@declare(tests=[unary_entry("log1p", Log1p, np.log1p, positive)])
def log1p(self) -> Tensor:
    """Elementwise ``log(1 + x)``, accurate near 0."""
    return _unary(Log1p, self)


@declare(tests=[unary_entry("rsqrt", Rsqrt, lambda a: 1 / np.sqrt(a), positive)])
def rsqrt(self) -> Tensor:
    """Elementwise ``1 / sqrt(x)``."""
    return _unary(Rsqrt, self)


@declare(
    tests=[
        OpInfo("square", "PowBackward0", lambda ns, a: a.square(), np.square, unary_samples(normal))
    ]
)
def square(self) -> Tensor:
    """Elementwise ``x ** 2`` (``PowBackward0``, as torch; a bool tensor gives int64)."""
    return self.pow(2)


@declare(function=False)
def square_(self) -> Tensor:
    """``square`` in place."""
    if self._data.dtype == np.bool_:
        raise RuntimeError("result type Long can't be cast to the desired output type Bool")
    return _inplace(
        self, lambda a, _, out: np.multiply(a, a, out=out), lambda x, _: x.square(), None
    )


@declare(
    tests=[
        OpInfo(
            "logaddexp",
            "LogaddexpBackward0",
            lambda ns, a, b: ns.logaddexp(a, b),
            np.logaddexp,
            binary_samples(normal),
        )
    ]
)
def logaddexp(self, other: Tensor) -> Tensor:
    """Elementwise ``log(exp(self) + exp(other))``, without overflow."""
    other = tensor_other(other, "logaddexp")
    check_float_only("logaddexp", self, other)
    return _binary(Logaddexp, self, other)


@declare(
    tests=[
        OpInfo(
            "logaddexp2",
            "Logaddexp2Backward0",
            lambda ns, a, b: a.logaddexp2(b),
            np.logaddexp2,
            binary_samples(normal),
        )
    ]
)
def logaddexp2(self, other: Tensor) -> Tensor:
    """Elementwise ``log2(2**self + 2**other)``, without overflow."""
    other = tensor_other(other, "logaddexp2")
    check_float_only("logaddexp2", self, other)
    return _binary(Logaddexp2, self, other)


@declare(
    tests=[
        OpInfo(
            "lerp_scalar",
            "LerpBackward0",
            lambda ns, a, b, weight: a.lerp(b, weight),
            _np_lerp,
            _lerp_scalar_samples,
        ),
        OpInfo(
            "lerp_tensor",
            "LerpBackward1",
            lambda ns, a, b, w: ns.lerp(a, b, w),
            _np_lerp,
            _LERP_TENSOR,
        ),
    ]
)
def lerp(self, end: Tensor, weight: Any) -> Tensor:
    """``self + weight * (end - self)``; ``weight`` a number or a tensor (broadcast)."""
    arrays = _lerp_arrays(self, end, weight)
    if not isinstance(weight, Tensor):
        return _run_op(Lerp(), (self, end), arrays[:2], weight=arrays[2])
    return _run_op(LerpTensor(), (self, end, weight), arrays)


@declare(function=False)
def lerp_(self, end: Tensor, weight: Any) -> Tensor:
    """``lerp`` in place."""
    a, b, w = _lerp_arrays(self, end, weight)

    def kernel(data: np.ndarray, _: Any, out: np.ndarray) -> None:
        out[...] = _lerp(data, b, w)

    # what decides whether the change is recorded: a tensor argument that requires grad
    other = weight if isinstance(weight, Tensor) and weight.requires_grad else end
    return _inplace(self, kernel, lambda t, _: t.lerp(end, weight), other)


@declare(
    tests=[
        OpInfo(
            "copysign",
            "CopysignBackward0",
            lambda ns, a, b: a.copysign(b),
            np.copysign,
            binary_samples(away_from_zero),
        ),
        OpInfo(
            "copysign_scalar",
            "CopysignBackward1",
            lambda ns, a, other: ns.copysign(a, other),
            lambda a, other: np.copysign(a, other),
            _COPYSIGN_SCALAR,
        ),
    ]
)
def copysign(self, other: Any) -> Tensor:
    """Elementwise magnitude of ``self`` with the sign of ``other`` (a tensor or a number)."""
    if isinstance(other, Tensor):
        return _binary(Copysign, self, other)
    other = _scalar(other, "other")
    return _run_op(CopysignScalar(), (self,), (_float_data(self),), other=float(other))


@declare(function=False)
def copysign_(self, other: Any) -> Tensor:
    """``copysign`` in place."""
    return float_inplace_binary(self, other, np.copysign, Tensor.copysign)


for _name, _cls in (
    ("erf", Erf),
    ("erfc", Erfc),
    ("exp2", Exp2),
    ("expm1", Expm1),
    ("log2", Log2),
    ("log10", Log10),
    ("log1p", Log1p),
    ("rsqrt", Rsqrt),
):
    declare_float_inplace(_name, _cls, globals()[_name])


# -------------------------------------------------------------- argument checks


def _lerp_arrays(t: Tensor, end: Any, weight: Any) -> tuple[Any, ...]:
    """lerp's arguments checked as torch checks them, as arrays (a number weight as is)."""
    end = tensor_other(end, "lerp", "end")
    same_dtype(t, end, "end")
    scalar = not isinstance(weight, Tensor)
    if not scalar and weight.ndim and weight._data.dtype != t._data.dtype:
        same_dtype(t, weight, "weight")  # a 0-d weight is taken in self's dtype, as torch
    if t._data.dtype.kind != "f":
        kernel = "lerp_kernel_scalar" if scalar else "lerp_kernel_tensor"
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{_scalar_type_name(t._data.dtype)}'"
        )
    if scalar:
        return (*broadcastable(t, end), _scalar(weight, "weight"))
    return broadcastable(t, end, weight._data.astype(t._data.dtype, copy=False))
