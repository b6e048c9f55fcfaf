"""Elementwise tests and logic: isnan, isinf, isfinite, isposinf, isneginf, logical_*,
the named bitwise ops and shifts, the named comparisons, isclose and equal.

None is differentiable: the results are bool (or integer) tensors outside the graph. The
in-place comparisons (``lt_``) keep ``self``'s dtype and are recorded with a zero gradient,
as torch's ``LtBackward0``; the in-place logical ops are not tracked at all, as torch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad._array import _inplace_shape_error, broadcast_error
from tapegrad._dtypes import _scalar_type_name
from tapegrad.inplace import _inplace
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.elementwise import declare_alias, tensor_other
from tapegrad.promotion import _compare, _operand, _promote_scalar, _result_dtype
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# ------------------------------------------------------------------ value tests


@declare()
def isnan(self) -> Tensor:
    """Elementwise test for NaN, as a bool tensor."""
    return _wrap(np.asarray(np.isnan(self._data)) if _is_float(self) else _falses(self))


@declare()
def isinf(self) -> Tensor:
    """Elementwise test for positive or negative infinity."""
    return _wrap(np.asarray(np.isinf(self._data)) if _is_float(self) else _falses(self))


@declare()
def isposinf(self) -> Tensor:
    """Elementwise test for positive infinity."""
    return _wrap(np.asarray(self._data == np.inf) if _is_float(self) else _falses(self))


@declare()
def isneginf(self) -> Tensor:
    """Elementwise test for negative infinity."""
    return _wrap(np.asarray(self._data == -np.inf) if _is_float(self) else _falses(self))


@declare()
def isfinite(self) -> Tensor:
    """Elementwise test for a finite value (not NaN, not infinite)."""
    return _wrap(np.asarray(np.isfinite(self._data)) if _is_float(self) else ~_falses(self))


# ---------------------------------------------------------------------- logic


@declare()
def logical_not(self) -> Tensor:
    """Elementwise ``not``: True where ``self`` is zero; any dtype in, bool out."""
    return _wrap(np.asarray(np.logical_not(self._data)))


@declare()
def logical_and(self, other: Tensor) -> Tensor:
    """Elementwise ``and`` of the truth values of two tensors (broadcast); bool out."""
    return _compare(np.logical_and, self, tensor_other(other, "logical_and"))


@declare()
def logical_or(self, other: Tensor) -> Tensor:
    """Elementwise ``or`` of the truth values of two tensors (broadcast); bool out."""
    return _compare(np.logical_or, self, tensor_other(other, "logical_or"))


@declare()
def logical_xor(self, other: Tensor) -> Tensor:
    """Elementwise ``xor`` of the truth values of two tensors (broadcast); bool out."""
    return _compare(np.logical_xor, self, tensor_other(other, "logical_xor"))


@declare(function=False)
def logical_not_(self) -> Tensor:
    """``logical_not`` in place: 1 or 0 in ``self``'s dtype (not tracked, as torch)."""
    return _untracked_inplace(self, self.logical_not())


@declare(function=False)
def logical_and_(self, other: Tensor) -> Tensor:
    """``logical_and`` in place: 1 or 0 in ``self``'s dtype (not tracked, as torch)."""
    return _untracked_inplace(self, self.logical_and(other))


@declare(function=False)
def logical_or_(self, other: Tensor) -> Tensor:
    """``logical_or`` in place: 1 or 0 in ``self``'s dtype (not tracked, as torch)."""
    return _untracked_inplace(self, self.logical_or(other))


@declare(function=False)
def logical_xor_(self, other: Tensor) -> Tensor:
    """``logical_xor`` in place: 1 or 0 in ``self``'s dtype (not tracked, as torch)."""
    return _untracked_inplace(self, self.logical_xor(other))


# ------------------------------------------------------------ bitwise and shifts


@declare()
def bitwise_not(self) -> Tensor:
    """Elementwise bitwise not of an integer tensor (logical not of a bool one)."""
    if _is_float(self):
        name = _scalar_type_name(self._data.dtype)
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for '{name}'")
    return ~self


@declare()
def bitwise_and(self, other: Any) -> Tensor:
    """Elementwise bitwise and (``&``) of integer or bool tensors."""
    return self & other


@declare()
def bitwise_or(self, other: Any) -> Tensor:
    """Elementwise bitwise or (``|``) of integer or bool tensors."""
    return self | other


@declare()
def bitwise_xor(self, other: Any) -> Tensor:
    """Elementwise bitwise xor (``^``) of integer or bool tensors."""
    return self ^ other


@declare(function=False)
def bitwise_not_(self) -> Tensor:
    """``bitwise_not`` in place."""
    return _inplace(self, _bitwise_kernel(np.invert, "bitwise_not"), _bitwise_not, None)


@declare(function=False, aliases=("__iand__",))
def bitwise_and_(self, other: Any) -> Tensor:
    """``bitwise_and`` in place (``self &= other``)."""
    return _inplace(self, _bitwise_kernel(np.bitwise_and, "bitwise_and"), Tensor.__and__, other)


@declare(function=False, aliases=("__ior__",))
def bitwise_or_(self, other: Any) -> Tensor:
    """``bitwise_or`` in place (``self |= other``)."""
    return _inplace(self, _bitwise_kernel(np.bitwise_or, "bitwise_or"), Tensor.__or__, other)


@declare(function=False, aliases=("__ixor__",))
def bitwise_xor_(self, other: Any) -> Tensor:
    """``bitwise_xor`` in place (``self ^= other``)."""
    return _inplace(self, _bitwise_kernel(np.bitwise_xor, "bitwise_xor"), Tensor.__xor__, other)


@declare(aliases=("__lshift__",))
def bitwise_left_shift(self, other: Any) -> Tensor:
    """Elementwise ``self << other``; shifts by a negative amount or by the bit width or
    more give 0, as torch."""
    return _shift(self, other, _left_shift, "lshift_cpu")


@declare(aliases=("__rshift__",))
def bitwise_right_shift(self, other: Any) -> Tensor:
    """Elementwise arithmetic ``self >> other``; shifts by a negative amount or by the bit
    width or more give 0 (or -1 for negative signed values), as torch."""
    return _shift(self, other, _right_shift, "rshift_cpu")


@declare(function=False)
def __rlshift__(self, other: Any) -> Tensor:
    return _shift(self, other, _left_shift, "lshift_cpu", reflected=True)


@declare(function=False)
def __rrshift__(self, other: Any) -> Tensor:
    return _shift(self, other, _right_shift, "rshift_cpu", reflected=True)


@declare(function=False, aliases=("__ilshift__",))
def bitwise_left_shift_(self, other: Any) -> Tensor:
    """``bitwise_left_shift`` in place (``self <<= other``)."""
    return _shift_inplace(self, self.bitwise_left_shift(other))


@declare(function=False, aliases=("__irshift__",))
def bitwise_right_shift_(self, other: Any) -> Tensor:
    """``bitwise_right_shift`` in place (``self >>= other``)."""
    return _shift_inplace(self, self.bitwise_right_shift(other))


# ------------------------------------------------------------------ comparisons


class CompareInplace(Op):
    """An in-place comparison (``lt_``) on a tensor that requires grad: 1 or 0 in the
    tensor's dtype, with a zero gradient, as torch's ``LtBackward0``/``LtBackward1``."""

    __slots__ = ("ufunc",)
    node_name = "LtBackward0"

    def __init__(self, ufunc: Any) -> None:
        self.ufunc = ufunc

    def forward(self, a: np.ndarray, *other: Any) -> np.ndarray:
        return self.ufunc(a, *other).astype(a.dtype)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        zero = xp.zeros_like(g)
        return (zero,) * len(self._edges)


_COMPARISONS = {
    "lt": ("__lt__", np.less, ("less",)),
    "le": ("__le__", np.less_equal, ("less_equal",)),
    "gt": ("__gt__", np.greater, ("greater",)),
    "ge": ("__ge__", np.greater_equal, ("greater_equal",)),
    "ne": ("__ne__", np.not_equal, ("not_equal",)),
    "eq": ("__eq__", np.equal, ()),
}
_SYMBOLS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ne": "!=", "eq": "=="}
_INPLACE_NODES: dict[tuple[str, bool], type[CompareInplace]] = {}


def _declare_comparison(name: str, operator: str, ufunc: Any, aliases: tuple[str, ...]) -> None:
    for overload, with_tensor in ((0, False), (1, True)):
        node = f"{name.capitalize()}Backward{overload}"
        _INPLACE_NODES[name, with_tensor] = type(node, (CompareInplace,), {"node_name": node})
    if name != "eq":  # eq is compare.py's

        def compare(self: Tensor, other: Any) -> Tensor:
            return getattr(self, operator)(other)

        compare.__doc__ = f"Elementwise ``self {_SYMBOLS[name]} other``, as a bool tensor."
        declare(name=name)(compare)
    for alias in aliases:
        declare_alias(alias, name)

    def compare_(self: Tensor, other: Any) -> Tensor:
        return _inplace(self, _compare_kernel(ufunc), _compare_recorded(name, ufunc), other)

    compare_.__doc__ = f"``{name}`` in place: 1 or 0 in ``self``'s dtype."
    declare(name=f"{name}_", function=False)(compare_)
    for alias in aliases:
        declare_alias(f"{alias}_", f"{name}_", function=False)


for _name, (_operator, _ufunc, _aliases) in _COMPARISONS.items():
    _declare_comparison(_name, _operator, _ufunc, _aliases)


@declare()
def isclose(
    self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """Elementwise ``|self - other| <= atol + rtol * |other|`` (equal infinities count as
    close; NaNs only with ``equal_nan``), as a bool tensor."""
    other = tensor_other(other, "isclose")
    a, b = self._data, other._data
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"{_scalar_type_name(a.dtype)} did not match {_scalar_type_name(b.dtype)}"
        )
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value < 0:
            raise RuntimeError(f"{name} must be greater than or equal to zero, but got {value}")
    message = broadcast_error(a.shape, b.shape)
    if message:
        raise RuntimeError(message)
    return _wrap(np.asarray(_isclose(a, b, rtol, atol, equal_nan)))


@declare()
def equal(self, other: Tensor) -> bool:
    """True when both tensors have the same shape and the same values (NaN is not equal)."""
    other = tensor_other(other, "equal")
    return self.shape == other.shape and bool(np.array_equal(self._data, other._data))


# ------------------------------------------------------------------ the kernels


def _is_float(t: Tensor) -> bool:
    return t._data.dtype.kind == "f"


def _falses(t: Tensor) -> np.ndarray:
    return np.zeros(t._data.shape, dtype=np.bool_)


def _untracked_inplace(t: Tensor, values: Tensor) -> Tensor:
    """Write ``values`` into ``t`` in its dtype, outside autograd (torch's logical ops)."""
    if values.shape != t.shape:
        raise RuntimeError(_inplace_shape_error(t.shape, values.shape))
    np.copyto(t._data, values._data, casting="unsafe")
    t._vc[0] += 1
    return t


def _bitwise_kernel(ufunc: Any, name: str) -> Any:
    def kernel(a: np.ndarray, b: Any, out: np.ndarray) -> None:
        if a.dtype.kind == "f" or isinstance(b, float) or getattr(b, "dtype", a.dtype).kind == "f":
            dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
            raise NotImplementedError(
                f"\"{name}_cpu\" not implemented for '{_scalar_type_name(dtype)}'"
            )
        if b is None:
            ufunc(a, out=out)
        else:
            ufunc(a, b, out=out, casting="same_kind")

    return kernel


def _bitwise_not(t: Tensor, _: Any) -> Tensor:
    return ~t


def _left_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    bits = a.dtype.itemsize * 8
    fits = (b >= 0) & (b < bits)
    return np.where(fits, np.left_shift(a, np.where(fits, b, 0)), 0).astype(a.dtype)


def _right_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # past the width: only the sign remains (signed), nothing (unsigned)
    most = a.dtype.itemsize * 8 - (a.dtype.kind == "i")
    fits = (b >= 0) & (b < most)
    shifted = np.right_shift(a, np.where(fits, b, 0))
    rest = np.right_shift(a, most) if a.dtype.kind == "i" else np.zeros_like(a)
    return np.where(fits, shifted, rest).astype(a.dtype)


def _shift(t: Tensor, other: Any, kernel: Any, name: str, reflected: bool = False) -> Tensor:
    """``<<`` or ``>>`` in the promoted dtype, which must be an integer one."""
    other = _operand(other)
    if isinstance(other, Tensor):
        dtype, b = _result_dtype(t, other), other._data
    else:
        dtype, b = _promote_scalar(t, other)._data.dtype, other
    if dtype.kind in "fb":
        raise NotImplementedError(f"\"{name}\" not implemented for '{_scalar_type_name(dtype)}'")
    message = broadcast_error(t.shape, np.shape(b))
    if message:
        raise RuntimeError(message)
    a = t._data.astype(dtype, copy=False)
    b = np.asarray(b).astype(dtype)  # a Python int out of range wraps, as C
    a, b = (b, a) if reflected else (a, b)
    return _wrap(np.asarray(kernel(*np.broadcast_arrays(a, b))))


def _shift_inplace(t: Tensor, result: Tensor) -> Tensor:
    if result._data.dtype != t._data.dtype and not np.can_cast(
        result._data.dtype, t._data.dtype, "same_kind"
    ):
        raise RuntimeError(
            f"result type {_scalar_type_name(result._data.dtype)} can't be cast to the desired "
            f"output type {_scalar_type_name(t._data.dtype)}"
        )
    return _inplace(t, lambda a, r, out: np.copyto(out, r, casting="unsafe"), _shifted, result)


def _shifted(t: Tensor, result: Tensor) -> Tensor:
    return result  # shifts need integer tensors, which never require grad


def _compare_kernel(ufunc: Any) -> Any:
    def kernel(a: np.ndarray, b: Any, out: np.ndarray) -> None:
        np.copyto(out, ufunc(a, b), casting="unsafe")

    return kernel


def _compare_recorded(name: str, ufunc: Any) -> Any:
    def record(t: Tensor, other: Any) -> Tensor:
        other = _operand(other)
        if isinstance(other, Tensor):
            node = _INPLACE_NODES[name, True]
            return _run_op(node(ufunc), (t, other), (t._data, other._data))
        return _run_op(_INPLACE_NODES[name, False](ufunc), (t,), (t._data, other))

    return record


def _isclose(a: np.ndarray, b: np.ndarray, rtol: float, atol: float, equal_nan: bool) -> Any:
    """torch's formula: equal values are close (infinities too); else finite error within
    ``atol + |rtol * other|``, computed in the tensors' dtype (bool as float32)."""
    close = a == b
    if equal_nan and a.dtype.kind == "f":
        close |= np.isnan(a) & np.isnan(b)
    if rtol == 0 and atol == 0:
        return close
    if a.dtype.kind == "b":
        a, b = a.astype(np.float32), b.astype(np.float32)
    work = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, not close
        allowed = atol + np.abs(np.asarray(rtol * b, dtype=work))
        error = np.abs(np.subtract(a, b, dtype=work if a.dtype.kind == "f" else None))
        return close | (np.isfinite(error) & (error <= allowed))
