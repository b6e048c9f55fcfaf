"""Trigonometric and hyperbolic functions, and atan2 and hypot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.ops.base import OUT, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.elementwise import (
    check_float_only,
    declare_alias,
    declare_float_inplace,
    float_inplace_binary,
    tensor_other,
    unary_entry,
    uniform,
)
from tapegrad.ops.samples import (
    OpInfo,
    away_from_zero,
    binary_samples,
    normal,
)
from tapegrad.promotion import _binary, _unary
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class Sin(Op):
    __slots__ = ()
    node_name = "SinBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.sin(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * xp.cos(a),)


class Cos(Op):
    __slots__ = ()
    node_name = "CosBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.cos(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * -xp.sin(a),)


class Tan(Op):
    __slots__ = ()
    node_name = "TanBackward0"
    saves = (OUT,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.tan(a)

    def backward(self, xp: Any, g: Any, out: Any) -> tuple[Any, ...]:
        return (g * (1 + out * out),)


class Asin(Op):
    __slots__ = ()
    node_name = "AsinBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.arcsin(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / xp.sqrt(1 - a * a),)


class Acos(Op):
    __slots__ = ()
    node_name = "AcosBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.arccos(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (-g / xp.sqrt(1 - a * a),)


class Atan(Op):
    __slots__ = ()
    node_name = "AtanBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.arctan(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / (a * a + 1),)


class Sinh(Op):
    __slots__ = ()
    node_name = "SinhBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.sinh(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * xp.cosh(a),)


class Cosh(Op):
    __slots__ = ()
    node_name = "CoshBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.cosh(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g * xp.sinh(a),)


class Asinh(Op):
    __slots__ = ()
    node_name = "AsinhBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.arcsinh(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / xp.sqrt(a * a + 1),)


class Acosh(Op):
    __slots__ = ()
    node_name = "AcoshBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.arccosh(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / xp.sqrt((a - 1) * (a + 1)),)


class Atanh(Op):
    __slots__ = ()
    node_name = "AtanhBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.arctanh(a)

    def backward(self, xp: Any, g: Any, a: Any) -> tuple[Any, ...]:
        return (g / (1 - a * a),)


class Atan2(Op):
    __slots__ = ()
    node_name = "Atan2Backward0"
    int_to_float = True  # integer and bool inputs compute in float32, as torch
    saves = (0, 1)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.arctan2(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        scale = g / (a * a + b * b)
        return (scale * b if na is not None else None, -scale * a if nb is not None else None)


class Hypot(Op):
    __slots__ = ()
    node_name = "HypotBackward0"
    saves = (0, 1, OUT)

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.hypot(a, b)

    def backward(self, xp: Any, g: Any, a: Any, b: Any, out: Any) -> tuple[Any, ...]:
        (na, _), (nb, _) = self._edges
        return (g * a / out if na is not None else None, g * b / out if nb is not None else None)


# ------------------------------------------------- Tensor methods and functions


@declare(tests=[unary_entry("sin", Sin, np.sin, normal)])
def sin(self) -> Tensor:
    """Elementwise sine (integer inputs give float32)."""
    return _unary(Sin, self)


@declare(tests=[unary_entry("cos", Cos, np.cos, normal)])
def cos(self) -> Tensor:
    """Elementwise cosine."""
    return _unary(Cos, self)


@declare(tests=[unary_entry("tan", Tan, np.tan, uniform(-1.2, 1.2))])
def tan(self) -> Tensor:
    """Elementwise tangent."""
    return _unary(Tan, self)


@declare(tests=[unary_entry("asin", Asin, np.arcsin, uniform(-0.9, 0.9))])
def asin(self) -> Tensor:
    """Elementwise arcsine (NaN outside [-1, 1])."""
    return _unary(Asin, self)


@declare(tests=[unary_entry("acos", Acos, np.arccos, uniform(-0.9, 0.9))])
def acos(self) -> Tensor:
    """Elementwise arccosine (NaN outside [-1, 1])."""
    return _unary(Acos, self)


@declare(tests=[unary_entry("atan", Atan, np.arctan, normal)])
def atan(self) -> Tensor:
    """Elementwise arctangent."""
    return _unary(Atan, self)


@declare(tests=[unary_entry("sinh", Sinh, np.sinh, normal)])
def sinh(self) -> Tensor:
    """Elementwise hyperbolic sine."""
    return _unary(Sinh, self)


@declare(tests=[unary_entry("cosh", Cosh, np.cosh, normal)])
def cosh(self) -> Tensor:
    """Elementwise hyperbolic cosine."""
    return _unary(Cosh, self)


@declare(tests=[unary_entry("asinh", Asinh, np.arcsinh, normal)])
def asinh(self) -> Tensor:
    """Elementwise inverse hyperbolic sine."""
    return _unary(Asinh, self)


@declare(tests=[unary_entry("acosh", Acosh, np.arccosh, uniform(1.2, 3.0))])
def acosh(self) -> Tensor:
    """Elementwise inverse hyperbolic cosine (NaN below 1)."""
    return _unary(Acosh, self)


@declare(tests=[unary_entry("atanh", Atanh, np.arctanh, uniform(-0.9, 0.9))])
def atanh(self) -> Tensor:
    """Elementwise inverse hyperbolic tangent (NaN outside [-1, 1])."""
    return _unary(Atanh, self)


@declare(
    tests=[
        OpInfo(
            "atan2",
            "Atan2Backward0",
            lambda ns, a, b: ns.atan2(a, b),
            np.arctan2,
            binary_samples(away_from_zero),
        ),
    ]
)
def atan2(self, other: Tensor) -> Tensor:
    """Elementwise angle of the point ``(other, self)``: ``atan(self / other)`` by quadrant."""
    return _binary(Atan2, self, tensor_other(other, "atan2"))


@declare(
    tests=[
        OpInfo(
            "hypot",
            "HypotBackward0",
            lambda ns, a, b: a.hypot(b),
            np.hypot,
            binary_samples(away_from_zero),
        ),
    ]
)
def hypot(self, other: Tensor) -> Tensor:
    """Elementwise ``sqrt(self**2 + other**2)``; floating-point tensors only, as torch."""
    other = tensor_other(other, "hypot")
    check_float_only("hypot", self, other)
    return _binary(Hypot, self, other)


class NoInplaceDerivative(Op):
    """torch records ``asinh_``, ``acosh_`` and ``atanh_`` on a tensor that requires grad
    (``AsinhBackward1``) but has no derivative for them: backward raises, as torch's."""

    __slots__ = ("op",)

    def __init__(self, op: Op) -> None:
        self.op = op

    def forward(self, a: np.ndarray) -> np.ndarray:
        return self.op.forward(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        fn = self.node_name.removesuffix("Backward1").lower()
        raise NotImplementedError(
            f"the derivative for 'inplace version of {fn}' is not implemented."
        )


def _no_inplace_derivative(op_cls: type[Op]) -> Callable[[Tensor], Tensor]:
    name = op_cls.node_name.replace("Backward0", "Backward1")
    node = type(name, (NoInplaceDerivative,), {"__slots__": (), "node_name": name})

    def record(t: Tensor) -> Tensor:
        data = t._data if t._data.dtype.kind == "f" else t._data.astype(np.float32)
        return _run_op(node(op_cls()), (t,), (data,))

    return record


# ------------------------------------------------------------ in-place and aliases


_NO_INPLACE = ("asinh", "acosh", "atanh")
for _name, _cls in (
    ("sin", Sin),
    ("cos", Cos),
    ("tan", Tan),
    ("asin", Asin),
    ("acos", Acos),
    ("atan", Atan),
    ("sinh", Sinh),
    ("cosh", Cosh),
    ("asinh", Asinh),
    ("acosh", Acosh),
    ("atanh", Atanh),
):
    _recorded = _no_inplace_derivative(_cls) if _name in _NO_INPLACE else globals()[_name]
    declare_float_inplace(_name, _cls, _recorded)
    if _name[0] == "a":
        declare_alias(f"arc{_name[1:]}", _name)
        declare_alias(f"arc{_name[1:]}_", f"{_name}_", function=False)


@declare(function=False)
def atan2_(self, other: Tensor) -> Tensor:
    """``atan2`` in place."""
    return float_inplace_binary(self, tensor_other(other, "atan2"), np.arctan2, Tensor.atan2)


@declare(function=False)
def hypot_(self, other: Tensor) -> Tensor:
    """``hypot`` in place."""
    other = tensor_other(other, "hypot")
    check_float_only("hypot", self, other)
    return float_inplace_binary(self, other, np.hypot, Tensor.hypot)


declare_alias("arctan2", "atan2")
declare_alias("arctan2_", "atan2_", function=False)
