"""Powers: ``tensor ** number``, ``tensor ** tensor`` and ``number ** tensor``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._dtypes import _FLOAT_KIND
from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, Sample, binary_samples, normal, positive, unary_samples
from tapegrad.promotion import _SCALARS, _binary, _promote_scalar, _scalar
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


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


# ------------------------------------------------- Tensor methods and functions


@declare(
    name="pow",
    function=False,
    aliases=("__pow__",),
    tests=[
        OpInfo(
            "pow_scalar",
            "PowBackward0",
            lambda ns, a, p: a**p,
            lambda a, p: a**p,
            lambda rng: [
                Sample((positive(rng, (3, 4)),), f"p={p}", {"p": p}) for p in (2, 3, 0.5, -1.5, 0)
            ],
        ),
        OpInfo(
            "pow_tensor", "PowBackward1", lambda ns, a, b: a**b, np.power, binary_samples(positive)
        ),
    ],
)
def tensor_pow(self, exponent: Any) -> Tensor:
    """``self ** exponent`` for a number or a tensor exponent."""
    if isinstance(exponent, Tensor):
        return _binary(PowTensor, self, exponent)
    exponent = _scalar(exponent, "exponent")
    me = _promote_scalar(self, exponent)
    if me._data.dtype.kind in "iu" and isinstance(exponent, int) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _run_op(Pow(), (me,), (me._data,), exponent=exponent)


@declare(
    function=False,
    tests=[
        OpInfo(
            "rpow_scalar",
            "PowBackward2",
            lambda ns, a: 2.0**a,
            lambda a: 2.0**a,
            unary_samples(normal),
        ),
    ],
)
def __rpow__(self, base: Any) -> Tensor:
    if isinstance(base, _SCALARS):
        me = (
            self
            if self._data.dtype.kind == _FLOAT_KIND or isinstance(base, int)
            else (self.float())
        )
        return _run_op(Rpow(), (me,), (me._data,), base=base)
    return _binary(PowTensor, self, base, reflected=True)


@declare(method=False, function="pow")
def pow_function(input: Any, exponent: Any) -> Tensor:  # noqa: A002
    """``input ** exponent``."""
    if not isinstance(input, Tensor):
        return exponent.__rpow__(input)
    return input.pow(exponent)
