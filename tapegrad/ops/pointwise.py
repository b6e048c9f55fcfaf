"""Pointwise math: exp, log, sqrt, abs, sign, tanh, sigmoid, relu and clamp."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import sign as nan_safe_sign
from tapegrad.inplace import _inplace
from tapegrad.ops import base
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import (
    Array,
    OpInfo,
    Sample,
    away_from_zero,
    normal,
    positive,
    unary_samples,
)
from tapegrad.promotion import _promote_scalar, _scalar, _tensor_arg, _unary
from tapegrad.recording import _finish, _run_op
from tapegrad.tensor import Tensor, _wrap

# -------------------------------------------------------------------------- ops


class Exp(Op):
    __slots__ = ()
    node_name = "ExpBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.exp(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * out,)


class Log(Op):
    __slots__ = ()
    node_name = "LogBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.log(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / a,)


class Sqrt(Op):
    __slots__ = ()
    node_name = "SqrtBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.sqrt(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g / (2 * out),)


class Sign(Op):
    """Piecewise constant: its gradient is 0 everywhere, as PyTorch's."""

    __slots__ = ()
    node_name = "SignBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return nan_safe_sign(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g),)


class Abs(Op):
    """abs'(0) = 0, as PyTorch."""

    __slots__ = ()
    node_name = "AbsBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.abs(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * xp.sign(a),)


class Tanh(Op):
    __slots__ = ()
    node_name = "TanhBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.tanh(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * (1 - out * out),)


class Sigmoid(Op):
    __slots__ = ()
    node_name = "SigmoidBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        # torch's formula, 1 / (1 + exp(-a)): accurate down to the smallest results (tanh-based
        # forms lose them); where exp(-a) overflows to inf the result is 1 / inf = 0, as torch
        out = np.negative(a, out=np.empty_like(a))  # an array even for 0-d input
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1
        return np.reciprocal(out, out=out)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * out * (1 - out),)


class Relu(Op):
    """relu'(0) = 0, as PyTorch."""

    __slots__ = ()
    node_name = "ReluBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.maximum(a, 0)

    packed_name = "result != 0"

    @staticmethod
    def pack_out(out: np.ndarray) -> np.ndarray:
        # != 0 rather than > 0: a NaN input passes its gradient, as torch's threshold_backward
        return out != 0

    _takes_grad = True  # backward reads the incoming gradient once, in ``masked_grad``

    def backward(self, xp: Any, g: Any, mask: Any) -> tuple[Any, ...]:
        # a multiply by the boolean mask: ~10x cheaper than np.where on large arrays
        return (base.masked_grad(xp, g, mask),)

    def _saved_tensor(self, pos: int, value: Any) -> Any:
        # Recording backward: torch's gradient depends on the saved result (with derivative
        # 0), so it requires grad even when the incoming one does not. The mask stands for it.
        return base._tensor_ns.from_edge(value, self, 0)


class ThresholdBackward(Op):
    """relu's backward, recorded (``create_graph``): ``g * mask``, where ``mask`` stands for
    relu's result, whose gradient through here is 0."""

    __slots__ = ()
    node_name = "ThresholdBackwardBackward0"
    saves = (1,)
    saved_only_for = {1: 0}

    def forward(self, g: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return g * mask

    def backward(self, xp: Any, gg: Any, mask: Any) -> tuple[Any, ...]:
        (ng, _), (nmask, _) = self._edges
        return (
            xp.mul_const(gg, mask) if ng is not None else None,
            xp.zeros_like(gg) if nmask is not None else None,
        )


_SAVED_SLOT = Op.saved  # the slot behind ``Op.saved``, which Clamp wraps


class Clamp(Op):
    """Gradient passes where min <= x <= max (closed interval), as PyTorch."""

    node_name = "ClampBackward1"
    saves = (0,)

    _takes_grad = True  # backward reads the incoming gradient once, in ``masked_grad``

    def forward(self, a: np.ndarray, min: float | None, max: float | None) -> np.ndarray:  # noqa: A002
        self.min, self.max = min, max
        if a.dtype.kind == "f" and (min is None or max is None):
            # the ufunc np.clip itself calls for one bound, without its Python wrappers
            return np.maximum(a, min) if max is None else np.minimum(a, max)
        return np.clip(a, min, max)

    def _get_saved(self) -> Any:
        return _SAVED_SLOT.__get__(self)

    def _set_saved(self, saved: Any) -> None:
        # Recording saves the input (``saves``); keep only where the gradient passes, a bool
        # mask a quarter of its size, so the input can be freed as soon as the next layer is
        # done with it (the input's version is still checked). Here rather than in recording,
        # so no other op pays for it.
        if saved is not None and saved[0] is not None and saved[0].dtype != np.bool_:
            saved = (self._mask(saved[0]),)
        _SAVED_SLOT.__set__(self, saved)

    saved = property(_get_saved, _set_saved)

    def _mask(self, a: Any) -> Any:
        if self.max is None:
            return a >= self.min
        if self.min is None:
            return a <= self.max
        return (a >= self.min) & (a <= self.max)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        # ``a`` is the kept mask; or the input itself (a float array or Tensor: a clamp on
        # bool is never recorded) where a caller passes it, as ``tapegrad.compile`` does
        packed = isinstance(a, np.ndarray) and a.dtype == np.bool_
        mask = a if packed else self._mask(a)
        if xp is base.ARRAY_NS:
            return (base.masked_grad(xp, g, mask),)
        return (g * mask,)

    def _saved_tensor(self, pos: int, value: Any) -> Any:
        # Recording backward: the mask is a constant (torch's ``g * (self >= min)`` does not
        # differentiate the comparison either)
        return value


# ------------------------------------------------------------- registry samples


def _np_sigmoid(a: Array) -> Array:
    return 1 / (1 + np.exp(-a))


def _np_clamp(a: Array, min: float | None = None, max: float | None = None) -> Array:  # noqa: A002
    return np.clip(a, min, max)


# ------------------------------------------------- Tensor methods and functions


@declare(
    tests=[
        OpInfo("exp", "ExpBackward0", lambda ns, a: a.exp(), np.exp, unary_samples(normal)),
    ]
)
def exp(self) -> Tensor:
    """Elementwise e**x."""
    return _unary(Exp, self)


@declare(
    tests=[
        OpInfo("log", "LogBackward0", lambda ns, a: a.log(), np.log, unary_samples(positive)),
    ]
)
def log(self) -> Tensor:
    """Elementwise natural logarithm."""
    return _unary(Log, self)


@declare(
    tests=[
        OpInfo("sqrt", "SqrtBackward0", lambda ns, a: a.sqrt(), np.sqrt, unary_samples(positive)),
    ]
)
def sqrt(self) -> Tensor:
    """Elementwise square root."""
    return _unary(Sqrt, self)


@declare(
    name="abs",
    aliases=("__abs__",),
    tests=[
        OpInfo("abs", "AbsBackward0", lambda ns, a: a.abs(), np.abs, unary_samples(away_from_zero)),
    ],
)
def tensor_abs(self) -> Tensor:
    """Elementwise absolute value; abs'(0) = 0."""
    if self._data.dtype == np.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return _run_op(Abs(), (self,), (self._data,))


@declare(
    tests=[
        OpInfo(
            "sign", "SignBackward0", lambda ns, a: a.sign(), np.sign, unary_samples(away_from_zero)
        ),
    ]
)
def sign(self) -> Tensor:
    """Elementwise sign; its gradient is 0 (``SignBackward0``)."""
    if self._data.dtype == np.bool_:
        return _wrap(self._data.copy())
    return _run_op(Sign(), (self,), (self._data,))


@declare(
    tests=[
        OpInfo("tanh", "TanhBackward0", lambda ns, a: a.tanh(), np.tanh, unary_samples(normal)),
    ]
)
def tanh(self) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return _unary(Tanh, self)


@declare(
    tests=[
        OpInfo(
            "sigmoid",
            "SigmoidBackward0",
            lambda ns, a: a.sigmoid(),
            _np_sigmoid,
            unary_samples(normal),
        ),
    ]
)
def sigmoid(self) -> Tensor:
    """Elementwise logistic function."""
    return _unary(Sigmoid, self)


@declare(
    tests=[
        OpInfo(
            "relu",
            "ReluBackward0",
            lambda ns, a: a.relu(),
            lambda a: np.maximum(a, 0),
            unary_samples(away_from_zero),
        ),
    ]
)
def relu(self) -> Tensor:
    """``max(x, 0)``; relu'(0) = 0."""
    if self._data.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    op = Relu()
    return _finish(op, (self,), (self._data,), op.forward(self._data))


@declare(function=False)
def relu_(self) -> Tensor:
    """``relu`` in place (recorded as ``ReluBackward0`` on a non-leaf, as torch)."""
    return _inplace(self, _relu_kernel, _relu_recorded, None)


@declare(
    aliases=("clip",),
    tests=[
        OpInfo(
            "clamp",
            "ClampBackward1",
            lambda ns, a, **kw: a.clamp(**kw),
            _np_clamp,
            lambda rng: [
                Sample((away_from_zero(rng, (3, 4)),), "min=0 (the blog)", {"min": 0.0}),
                Sample((away_from_zero(rng, (3, 4)),), "max=0", {"max": 0.0}),
                Sample(
                    (away_from_zero(rng, (4, 5)),), "min=-0.1 max=0.1", {"min": -0.1, "max": 0.1}
                ),
            ],
        ),
    ],
)
def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Limit values to [min, max]; the gradient passes on the closed interval."""
    if min is None and max is None:
        raise RuntimeError("tapegrad.clamp: At least one of 'min' or 'max' must not be None")
    lo = None if min is None else _scalar(min, "min")
    hi = None if max is None else _scalar(max, "max")
    me = _promote_scalar(self, lo if lo is not None else hi)
    return _run_op(Clamp(), (me,), (me._data,), min=lo, max=hi)


@declare(function=False)
def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """In-place clamp."""
    return _inplace(self, _clip_kernel, _clamp_recorded, (min, max))


# -------------------------------------------------------------- nn.functional forms


@declare(functional="relu")
def relu_functional(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """``max(x, 0)`` elementwise; relu'(0) = 0. ``inplace=True`` changes and returns ``input``."""
    input = _tensor_arg(input, "input", "relu")  # noqa: A001
    return input.relu_() if inplace else input.relu()


@declare(functional="tanh")
def tanh_functional(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent elementwise."""
    return _tensor_arg(input, "input", "tanh").tanh()


@declare(functional="sigmoid")
def sigmoid_functional(input: Tensor) -> Tensor:  # noqa: A002
    """Logistic function elementwise."""
    return _tensor_arg(input, "input", "sigmoid").sigmoid()


# ------------------------------------------------------------- in-place kernels


def _clip_kernel(a: np.ndarray, bounds: tuple[Any, Any], out: np.ndarray) -> None:
    np.clip(a, bounds[0], bounds[1], out=out, casting="same_kind")


def _clamp_recorded(t: Tensor, bounds: tuple[Any, Any]) -> Tensor:
    return t.clamp(*bounds)


def _relu_kernel(a: np.ndarray, _: Any, out: np.ndarray) -> None:
    np.maximum(a, 0, out=out)


def _relu_recorded(t: Tensor, _: Any) -> Tensor:
    return t.relu()
