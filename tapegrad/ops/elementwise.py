"""Helpers the elementwise op families (trig, special, rounding, logical) share: in-place
forms of float functions, torch's alias names, argument checks in torch's words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad._array import broadcast_error
from tapegrad._dtypes import _scalar_type_name
from tapegrad.inplace import _inplace
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import Array, OpInfo, unary_samples
from tapegrad.tensor import Tensor


def float_inplace(t: Tensor, op_cls: type[Op], method: Callable[[Tensor], Tensor]) -> Tensor:
    """``t.<fn>_()`` for a float function: computed into ``t``, or recorded as ``method(t)``.

    An integer or bool tensor cannot hold the float result: torch's error."""
    if t._data.dtype.kind != "f":
        raise RuntimeError(
            "result type Float can't be cast to the desired output type "
            f"{_scalar_type_name(t._data.dtype)}"
        )

    def kernel(a: np.ndarray, _: Any, out: np.ndarray) -> None:
        out[...] = op_cls().forward(a)

    return _inplace(t, kernel, lambda x, _: method(x), None)


def declare_alias(alias: str, target: str, function: bool = True) -> None:
    """Declare ``Tensor.<alias>`` (and ``tapegrad.<alias>``) as torch's other name of ``target``."""

    def impl(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, target)(*args, **kwargs)

    impl.__doc__ = f"Alias for ``{target}``."
    declare(name=alias, function=function)(impl)


def uniform(lo: float, hi: float) -> Callable[[np.random.Generator, tuple[int, ...]], Array]:
    """Sample maker: uniform values in ``(lo, hi)`` (keeps samples inside a domain)."""

    def make(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
        return rng.uniform(lo, hi, shape)

    return make


def unary_entry(name: str, op_cls: type[Op], ref: Callable[..., Array], make: Any) -> OpInfo:
    """The registry entry of a one-input method ``name``, on the usual unary samples."""
    return OpInfo(
        name, op_cls.node_name, lambda ns, a: getattr(a, name)(), ref, unary_samples(make)
    )


def tensor_other(other: Any, fn: str, name: str = "other") -> Tensor:
    """``other`` of a function whose second argument must be a Tensor (``atan2``)."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"{fn}(): argument '{name}' (position 1) must be Tensor, not {type(other).__name__}"
        )
    return other


def check_float_only(name: str, *tensors: Tensor) -> None:
    """torch's error for a float-only kernel given integer or bool tensors only."""
    if all(t._data.dtype.kind != "f" for t in tensors):
        dtype = np.result_type(*(t._data.dtype for t in tensors))
        raise NotImplementedError(
            f"\"{name}_cpu\" not implemented for '{_scalar_type_name(dtype)}'"
        )


def declare_float_inplace(name: str, op_cls: type[Op], method: Callable[[Tensor], Tensor]) -> None:
    """Declare ``Tensor.<name>_``: ``method`` (a float function computed by ``op_cls``) in place."""

    def impl(self: Tensor) -> Tensor:
        return float_inplace(self, op_cls, method)

    impl.__doc__ = f"``{name}`` in place."
    declare(name=f"{name}_", function=False)(impl)


def float_inplace_binary(
    t: Tensor, other: Any, ufunc: Callable[..., Any], method: Callable[..., Tensor]
) -> Tensor:
    """``t.<fn>_(other)`` for a float function of two arguments (``atan2_``, ``copysign_``)."""
    if t._data.dtype.kind != "f":
        raise RuntimeError(
            "result type Float can't be cast to the desired output type "
            f"{_scalar_type_name(t._data.dtype)}"
        )
    return _inplace(t, ufunc, method, other)


# torch's C++ type names, as its dtype-mismatch messages print them
_CPP_NAMES = {
    "float32": "float",
    "float64": "double",
    "float16": "c10::Half",
    "int64": "long int",
    "int32": "int",
    "int16": "short int",
    "int8": "signed char",
    "uint8": "unsigned char",
    "bool": "bool",
}


def same_dtype(t: Tensor, other: Tensor, what: str) -> None:
    """torch's error when ``other`` (lerp's ``end``) is not of ``t``'s dtype."""
    if other._data.dtype != t._data.dtype:
        raise RuntimeError(
            f"expected dtype {_CPP_NAMES[t._data.dtype.name]} for `{what}` but got dtype "
            f"{_CPP_NAMES[other._data.dtype.name]}"
        )


def broadcastable(*parts: Any) -> tuple[Any, ...]:
    """The arrays of ``parts``, after torch's broadcasting check."""
    arrays = tuple(p._data if isinstance(p, Tensor) else p for p in parts)
    shapes = [np.shape(a) for a in arrays]
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            message = broadcast_error(shapes[i], shapes[j])
            if message:
                raise RuntimeError(message)
    return arrays
