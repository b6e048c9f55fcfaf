"""Elementwise ops. Backward rules return gradients at the broadcast output shape; the
engine sums them down to each input's shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import check_divisor, floor_divide, sign, wrapped_int
from tapegrad.ops import base
from tapegrad.ops.base import OUT, HoldingOp, Op

# ----------------------------------------------------------------------------- arithmetic


class Add(Op):
    __slots__ = ()
    node_name = "AddBackward0"

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a + b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, g


class Sub(Op):
    __slots__ = ()
    node_name = "SubBackward0"

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a - b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, (-g if self._edges[1][0] is not None else None)


class AddScaled(Add):
    """``a + alpha * b`` (``add(..., alpha=)``): one AddBackward0 node, as torch."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: Any) -> None:
        self.alpha = alpha

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a + self.alpha * b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, (g * self.alpha if self._edges[1][0] is not None else None)


class SubScaled(Sub):
    """``a - alpha * b`` (``sub(..., alpha=)``): one SubBackward0 node, as torch."""

    __slots__ = ("alpha",)

    def __init__(self, alpha: Any) -> None:
        self.alpha = alpha

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a - self.alpha * b

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g, (g * -self.alpha if self._edges[1][0] is not None else None)


class DivScalar(Op):
    """``tensor / number`` as torch's C++ losses record it (the Scalar overload)."""

    __slots__ = ("divisor",)
    node_name = "DivBackward1"

    def forward(self, a: np.ndarray, divisor: Any) -> np.ndarray:
        self.divisor = divisor
        return a / divisor

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g / self.divisor,)


class DivRounded(Op):
    """``div(a, b, rounding_mode='floor' | 'trunc')``: piecewise constant, so both
    gradients are 0, as torch's DivBackward2."""

    __slots__ = ("mode",)
    node_name = "DivBackward2"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def forward(self, a: Any, b: Any) -> np.ndarray:
        floor = floor_divide(a, b)
        if self.mode == "floor":
            return floor
        if np.result_type(a, b).kind in "iub":  # truncate toward 0: one up where floor went down
            return np.where((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)), floor + 1, floor)
        return np.trunc(np.true_divide(a, b))

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        zero = xp.zeros_like(g)
        return zero, zero


class Remainder(Op):
    """``a % b`` with the divisor's sign; d/da = 1, d/db = -floor(a / b), as torch."""

    __slots__ = ()
    node_name = "RemainderBackward1"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 1}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        check_divisor(a, b)
        return np.remainder(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        quotient = None if nb is None else xp.floor_divide(a, b)
        return (g if na is not None else None, None if nb is None else -g * quotient)


class RemainderScalar(Op):
    """``tensor % number``: the gradient passes unchanged."""

    __slots__ = ("divisor",)
    node_name = "RemainderBackward0"

    def forward(self, a: np.ndarray, divisor: Any) -> np.ndarray:
        self.divisor = divisor
        check_divisor(a, divisor)
        return np.remainder(a, divisor)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class Rsub(Op):
    """``scalar - tensor``."""

    node_name = "RsubBackward1"

    def forward(self, a: np.ndarray, other: Any) -> np.ndarray:
        try:
            return other - a
        except OverflowError:
            return wrapped_int(other, a.dtype) - a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (-g,)


class Mul(Op):
    __slots__ = ()
    node_name = "MulBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1, 1: 0}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a * b

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (g * b if na is not None else None, g * a if nb is not None else None)


class Div(Op):
    __slots__ = ()
    node_name = "DivBackward0"
    saves = (0, 1)
    saved_only_for = {0: 1}

    def forward(self, a: Any, b: Any) -> np.ndarray:
        return a / b

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (g / b if na is not None else None, -g * a / (b * b) if nb is not None else None)


class Neg(Op):
    __slots__ = ()
    node_name = "NegBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (-g,)


class Pow(Op):
    """``tensor ** scalar``."""

    node_name = "PowBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, exponent: float) -> np.ndarray:
        self.exponent = exponent
        return a**exponent

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        p = self.exponent
        if p == 0:
            return (xp.zeros_like(g),)  # as torch (g * 0 would be NaN for an infinite g)
        return (g * (p * a if p == 2 else p * a ** (p - 1)),)


def _power(a: Any, b: Any) -> np.ndarray:
    """``a ** b``; an integer to a negative integer power as torch computes it (numpy
    refuses): 1 for a base of 1, -1 or 1 for a base of -1 (odd or even power), else 0."""
    try:
        return np.power(a, b)
    except ValueError:
        a, b = np.asarray(a), np.asarray(b)
        out = np.power(a, np.where(b < 0, 0, b))
        minus_one = np.where(b % 2 == 0, 1, -1)
        special = np.where(a == 1, 1, np.where(a == -1, minus_one, 0))
        return np.where(b < 0, special, out).astype(out.dtype)


class PowTensor(Op):
    """``tensor ** tensor``, with torch's subgradients: the base's gradient is 0 where the
    exponent is 0, the exponent's is 0 where the base is 0 and the exponent >= 0."""

    __slots__ = ()
    node_name = "PowBackward1"
    saves = (0, 1, OUT)
    saved_only_for = {OUT: 1}

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _power(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any, out: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        ga = gb = None
        if na is not None:
            ga = xp.where(b == 0, 0, g * (b * a ** (b - 1)))
        if nb is not None:  # 0 ** negative: out * log(0) = inf * -inf = -inf, as torch
            gb = g * xp.where((a == 0) & (b >= 0), 0, out * xp.log(a))
        return ga, gb


class Rpow(Op):
    """``scalar ** tensor``."""

    node_name = "PowBackward2"
    saves = (OUT,)

    def forward(self, a: np.ndarray, base: float) -> np.ndarray:
        self.base = base
        return _power(base, a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        log_base = float(np.log(self.base)) if self.base else -np.inf
        if self.base == 0:  # torch: 0 where x >= 0 (out is 0 or 1), else out * log(0) = -inf
            return (g * xp.where(out <= 1, 0, out * log_base),)
        return (g * (out * log_base),)


# ----------------------------------------------------------------------------- unary math


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


class Fill(Op):
    """``fill_(number)`` as recorded on a tensor that requires grad: the result no longer
    depends on the old values (their gradient is 0)."""

    __slots__ = ()
    node_name = "FillBackward2"

    def forward(self, a: np.ndarray, value: Any) -> np.ndarray:
        return np.full_like(a, value)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g),)


class Zero(Fill):
    """``zero_()``, recorded."""

    __slots__ = ()
    node_name = "ZeroBackward0"


class FillTensor(Op):
    """``fill_(value)`` with a 0-d tensor value: every element's gradient flows to it."""

    __slots__ = ()
    node_name = "FillBackward3"

    def forward(self, a: np.ndarray, value: np.ndarray) -> np.ndarray:
        return np.full_like(a, value)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g), xp.sum(g, tuple(range(g.ndim)), keepdims=False))


class Sign(Op):
    """Piecewise constant: its gradient is 0 everywhere, as PyTorch's."""

    __slots__ = ()
    node_name = "SignBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return sign(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g),)


class Reciprocal(Op):
    __slots__ = ()
    node_name = "ReciprocalBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.reciprocal(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (-g * (out * out),)


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

    def backward(self, xp: Any, g: Any, mask: Any) -> tuple[Any, ...]:
        # a multiply by the boolean mask: ~10x cheaper than np.where on large arrays
        return (xp.mul_const(g, mask),)

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


class Clamp(Op):
    """Gradient passes where min <= x <= max (closed interval), as PyTorch."""

    node_name = "ClampBackward1"
    saves = (0,)

    def forward(self, a: np.ndarray, min: float | None, max: float | None) -> np.ndarray:  # noqa: A002
        self.min, self.max = min, max
        return np.clip(a, min, max)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        if self.max is None:
            return (g * (a >= self.min),)
        if self.min is None:
            return (g * (a <= self.max),)
        return (g * ((a >= self.min) & (a <= self.max)),)


# ----------------------------------------------------------------------------- selection


class Maximum(Op):
    """Ties split the gradient evenly between the two inputs, as PyTorch."""

    __slots__ = ()
    node_name = "MaximumBackward0"
    saves = (0, 1)
    _pick = staticmethod(np.maximum)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._pick(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        # torch's masks: each input loses the gradient only where it strictly lost, so both
        # keep it where a NaN makes the comparisons false
        a_lost, b_lost = (a < b, a > b) if self._pick is np.maximum else (a > b, a < b)
        shared = xp.where(a == b, g * 0.5, g)
        return xp.where(a_lost, 0, shared), xp.where(b_lost, 0, shared)


class Minimum(Maximum):
    __slots__ = ()
    node_name = "MinimumBackward0"
    _pick = staticmethod(np.minimum)


class Where(HoldingOp):
    """``where(cond, a, b)``; the condition is a constant, not an input of the node."""

    node_name = "WhereBackward0"
    held = ("cond",)

    def forward(self, a: Any, b: Any, cond: np.ndarray) -> np.ndarray:
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return xp.where(self.cond, g, 0), xp.where(self.cond, 0, g)


# ----------------------------------------------------------------------------- copies


class Clone(Op):
    __slots__ = ()
    node_name = "CloneBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.copy()

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class ToDtype(Op):
    """A dtype cast; the engine casts the gradient back at the edge."""

    __slots__ = ()
    node_name = "ToCopyBackward0"

    def forward(self, a: np.ndarray, np_dtype: np.dtype) -> np.ndarray:
        return a.astype(np_dtype)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class CopyInto(Op):
    """``dst.copy_(src)`` recorded in the graph: dst's old value gets no gradient."""

    __slots__ = ()
    node_name = "CopyBackwards"

    def forward(self, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
        return np.broadcast_to(src, dst.shape).astype(dst.dtype)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return g * 0, g
