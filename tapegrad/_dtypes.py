"""Tensor dtypes: thin named wrappers over numpy dtypes, printed as ``tapegrad.float32``."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy as np


class dtype:  # noqa: N801 - PyTorch spells it lower-case
    """A tensor element type (``tapegrad.float32``...), backed by a numpy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name: str) -> None:
        self.name = name
        self.np = np.dtype(name)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name


float16 = dtype("float16")
float32 = dtype("float32")
float64 = dtype("float64")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
bool = dtype("bool")  # noqa: A001 - PyTorch's name

# PyTorch's aliases (``dtype=torch.float`` is float32, ``torch.long`` is int64, ...)
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64, "int": int32})

DEFAULT_FLOAT = float32


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    """Return the tapegrad dtype for a numpy dtype, or raise TypeError naming the supported ones."""
    found = _BY_NP.get(np_dtype)
    if found is None:
        names = ", ".join(d.name for d in ALL)
        raise TypeError(
            f"can't convert np.ndarray of type {np_dtype}; supported types are: {names}"
        )
    return found


def to_numpy_dtype(d: dtype | str | type | np.dtype) -> np.dtype:
    """Accept a tapegrad dtype, its name, a numpy dtype or a Python type; return the numpy dtype."""
    if isinstance(d, dtype):
        return d.np
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d].np
    if d is builtins.float:
        return float64.np  # torch: the Python type float means float64
    if d is builtins.int:
        return int64.np
    try:
        return from_numpy_dtype(np.dtype(d)).np
    except TypeError as exc:
        raise TypeError(
            f"unsupported dtype {d!r}: use tapegrad.float32, float64, int64 or bool"
        ) from exc


# ----------------------------------------------------------------------------- promotion and names

_FLOAT_KIND = "f"


def _category(kind: str) -> int:
    return 2 if kind == _FLOAT_KIND else 0 if kind == "b" else 1


def _join_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """torch's promotion over tensors of equal standing (``cat``, ``stack``): a higher
    category wins outright (float32 with int64 is float32); within one, numpy's rule."""
    target = dtypes[0]
    for d in dtypes[1:]:
        ct, cd = _category(target.kind), _category(d.kind)
        target = d if cd > ct else target if cd < ct else np.promote_types(target, d)
    return target


def _scalar_type_name(np_dtype: np.dtype) -> str:
    """PyTorch's ScalarType name (``Float``, ``Long``...) used in some of its messages."""
    return {
        "float32": "Float",
        "float64": "Double",
        "float16": "Half",
        "int64": "Long",
        "int32": "Int",
        "int16": "Short",
        "int8": "Char",
        "uint8": "Byte",
        "bool": "Bool",
    }.get(np_dtype.name, np_dtype.name)


def _torch_dtype_name(np_dtype: np.dtype) -> str:
    return {
        "float32": "float",
        "float64": "double",
        "int64": "long int",
        "int32": "int",
        "bool": "bool",
        "float16": "c10::Half",
    }.get(np_dtype.name, np_dtype.name)
