"""Rounding: floor, ceil, round, trunc (and its alias fix) and frac.

floor, ceil, round and trunc are piecewise constant: their gradient is 0, as torch's (it
records ``FloorBackward0`` and the like). On integer tensors they return a copy, as torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad._dtypes import _scalar_type_name
from tapegrad.inplace import _inplace
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.elementwise import declare_alias
from tapegrad.ops.samples import Array, OpInfo, Sample, unary_samples
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# -------------------------------------------------------------------------- ops


class Floor(Op):
    """Piecewise constant: the gradient is 0 everywhere, as torch's."""

    __slots__ = ()
    node_name = "FloorBackward0"
    _fn = staticmethod(np.floor)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return self._fn(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g),)


class Ceil(Floor):
    __slots__ = ()
    node_name = "CeilBackward0"
    _fn = staticmethod(np.ceil)


class Trunc(Floor):
    __slots__ = ()
    node_name = "TruncBackward0"
    _fn = staticmethod(np.trunc)


class Round(Floor):
    """To the nearest integer, halves to even (as torch and numpy)."""

    __slots__ = ()
    node_name = "RoundBackward0"
    _fn = staticmethod(np.rint)


class RoundDecimals(Op):
    """``round(decimals=d)``: scaled by ``10**d``, rounded halves to even, scaled back."""

    node_name = "RoundBackward1"

    def forward(self, a: np.ndarray, decimals: int) -> np.ndarray:
        return np.round(a, decimals)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.zeros_like(g),)


class Frac(Op):
    """``x - trunc(x)``: its gradient passes unchanged."""

    __slots__ = ()
    node_name = "FracBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a - np.trunc(a)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


# ------------------------------------------------------------- registry samples


def _off_integers(scale: float) -> Callable[[np.random.Generator, tuple[int, ...]], Array]:
    """Values at least 0.1 (in units of ``scale``) from integers and halves: no rounding
    boundary within a gradcheck step."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
        whole = rng.integers(-3, 4, shape)
        part = rng.uniform(0.1, 0.4, shape) + rng.integers(0, 2, shape) * 0.5
        return (whole + part) * scale

    return make


def _round_samples(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_off_integers(0.1)(rng, (3, 4)),), "decimals=1", {"decimals": 1}),
        Sample((_off_integers(0.01)(rng, (5,)),), "decimals=2", {"decimals": 2}),
        Sample((_off_integers(10.0)(rng, (2, 3)),), "decimals=-1", {"decimals": -1}),
        Sample((_off_integers(1.0)(rng, ()),), "0-d decimals=0", {"decimals": 0}),
    ]


def _entry(name: str, node: str, ref: Callable[..., Array]) -> OpInfo:
    return OpInfo(
        name, node, lambda ns, a: getattr(a, name)(), ref, unary_samples(_off_integers(1))
    )


# ------------------------------------------------- Tensor methods and functions


@declare(tests=[_entry("floor", "FloorBackward0", np.floor)])
def floor(self) -> Tensor:
    """Elementwise largest integer not above x; its gradient is 0."""
    return _rounded(Floor, self, "floor_vml_cpu")


@declare(tests=[_entry("ceil", "CeilBackward0", np.ceil)])
def ceil(self) -> Tensor:
    """Elementwise smallest integer not below x; its gradient is 0."""
    return _rounded(Ceil, self, "ceil_vml_cpu")


@declare(tests=[_entry("trunc", "TruncBackward0", np.trunc)])
def trunc(self) -> Tensor:
    """Elementwise x rounded toward 0; its gradient is 0."""
    return _rounded(Trunc, self, "trunc_vml_cpu")


@declare(
    name="round",
    tests=[
        _entry("round", "RoundBackward0", np.rint),
        OpInfo(
            "round_decimals",
            "RoundBackward1",
            lambda ns, a, decimals: ns.round(a, decimals=decimals),
            lambda a, decimals: np.round(a, decimals),
            _round_samples,
        ),
    ],
)
def tensor_round(self, *, decimals: int | None = None) -> Tensor:
    """Elementwise nearest integer (halves to even), or to ``decimals`` decimal places;
    its gradient is 0."""
    if decimals is None:
        return _rounded(Round, self, "round_vml_cpu")
    if self._data.dtype.kind != "f":
        kernel = "round_vml_cpu" if decimals == 0 else "round_cpu"
        raise _not_implemented(kernel, self)
    return _run_op(RoundDecimals(), (self,), (self._data,), decimals=int(decimals))


@declare(
    tests=[
        OpInfo(
            "frac",
            "FracBackward0",
            lambda ns, a: a.frac(),
            lambda a: a - np.trunc(a),
            unary_samples(_off_integers(1)),
        )
    ]
)
def frac(self) -> Tensor:
    """Elementwise fractional part ``x - trunc(x)`` (the sign of x); float tensors only."""
    if self._data.dtype.kind != "f":
        raise _not_implemented("frac_cpu", self)
    return _run_op(Frac(), (self,), (self._data,))


declare_alias("fix", "trunc")


# ---------------------------------------------------------------- in-place forms


@declare(function=False)
def floor_(self) -> Tensor:
    """``floor`` in place."""
    return _rounded_inplace(self, np.floor, Tensor.floor, "floor_vml_cpu")


@declare(function=False)
def ceil_(self) -> Tensor:
    """``ceil`` in place."""
    return _rounded_inplace(self, np.ceil, Tensor.ceil, "ceil_vml_cpu")


@declare(function=False)
def trunc_(self) -> Tensor:
    """``trunc`` in place."""
    return _rounded_inplace(self, np.trunc, Tensor.trunc, "trunc_vml_cpu")


@declare(function=False)
def round_(self, *, decimals: int | None = None) -> Tensor:
    """``round`` in place."""
    if decimals is None:
        return _rounded_inplace(self, np.rint, Tensor.round, "round_vml_cpu")
    if self._data.dtype.kind != "f":
        raise _not_implemented("round_vml_cpu" if decimals == 0 else "round_cpu", self)

    def kernel(a: np.ndarray, _: Any, out: np.ndarray) -> None:
        np.round(a, decimals, out=out)

    return _inplace(self, kernel, lambda t, _: t.round(decimals=decimals), None)


@declare(function=False)
def frac_(self) -> Tensor:
    """``frac`` in place."""
    if self._data.dtype.kind != "f":
        raise _not_implemented("frac_cpu", self)
    return _inplace(self, lambda a, _, out: np.subtract(a, np.trunc(a), out=out), _frac, None)


declare_alias("fix_", "trunc_", function=False)


# ------------------------------------------------------------------ the dispatch


def _not_implemented(kernel: str, t: Tensor) -> NotImplementedError:
    return NotImplementedError(
        f"\"{kernel}\" not implemented for '{_scalar_type_name(t._data.dtype)}'"
    )


def _rounded(op_cls: type[Op], t: Tensor, kernel: str) -> Tensor:
    """A float tensor rounded (recorded, gradient 0); an integer one copied; bool refused."""
    kind = t._data.dtype.kind
    if kind == "f":
        return _run_op(op_cls(), (t,), (t._data,))
    if kind == "b":
        raise _not_implemented(kernel, t)
    return _wrap(t._data.copy())


def _rounded_inplace(
    t: Tensor, ufunc: Callable[..., Any], method: Callable[[Tensor], Tensor], kernel: str
) -> Tensor:
    kind = t._data.dtype.kind
    if kind == "b":
        raise _not_implemented(kernel, t)
    if kind != "f":  # already whole: unchanged, though still counted as a change, as torch
        t._vc[0] += 1
        return t
    return _inplace(t, lambda a, _, out: ufunc(a, out=out), lambda x, _: method(x), None)


def _frac(t: Tensor, _: Any) -> Tensor:
    return t.frac()
