"""PyTorch's type promotion, and running one- and two-input ops with it.

Tensors of a higher category (bool < integer < float) win; within a category, dimensioned
tensors beat 0-d ones and Python numbers never widen a tensor (NEP 50, as torch).
"""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad._array import broadcast_error, wrapped_int
from tapegrad._dtypes import _FLOAT_KIND, _category
from tapegrad.recording import RecordedOp, _finish
from tapegrad.tensor import Tensor, _wrap

_SCALARS = (int, float, bool)


def _result_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """PyTorch's promotion: higher category wins; within it, dimensioned tensors beat 0-d."""
    da, db = a._data.dtype, b._data.dtype
    ca, cb = _category(da.kind), _category(db.kind)
    if ca != cb:
        winner = da if ca > cb else db
        return winner
    if a.ndim and not b.ndim:
        return da
    if b.ndim and not a.ndim:
        return db
    return np.promote_types(da, db)


def _promote_scalar(t: Tensor, scalar: Any) -> Tensor:
    """Cast an integer/bool tensor when a Python scalar of a higher category meets it."""
    kind = t._data.dtype.kind
    if kind == _FLOAT_KIND or scalar is None:
        return t
    if isinstance(scalar, float):
        return t.float()
    if kind == "b" and not isinstance(scalar, bool):
        return t.long()
    return t


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if not isinstance(value, _SCALARS):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return value


def _operand(x: Any) -> Any:
    """A binary op's other side: a Tensor, or an exact Python bool/int/float."""
    if isinstance(x, Tensor) or type(x) in (int, float, bool):
        return x
    if isinstance(x, np.ndarray):
        return _wrap(x)
    if isinstance(x, np.generic | numbers.Number):
        value = x.item() if isinstance(x, np.generic) else x
        if isinstance(value, bool | int | float):
            return bool(value) if isinstance(value, bool) else type(value)(value)
        if isinstance(value, numbers.Real):
            return float(value)
    raise TypeError(f"unsupported operand type for a tensor operation: {type(x).__name__}")


def _as_tensor(x: Any) -> Tensor:
    x = _operand(x)
    return x if isinstance(x, Tensor) else _wrap(np.asarray(x))


def _float_data(a: Tensor) -> np.ndarray:
    return a._data if a._data.dtype.kind == _FLOAT_KIND else a._data.astype(np.float32)


def _binary(op_cls: Callable[[], RecordedOp], a: Tensor, b: Any, reflected: bool = False) -> Tensor:
    """Run a two-input op with PyTorch's type promotion and broadcasting errors."""
    ad = a._data
    if isinstance(b, Tensor):
        bd = b._data
        if ad.dtype is not bd.dtype and ad.dtype != bd.dtype:
            # the op computes in the promoted dtype; its edges still go to the inputs (torch
            # records no cast), and the engine casts each gradient back to its input's dtype
            target = _result_dtype(a, b)
            ad, bd = ad.astype(target, copy=False), bd.astype(target, copy=False)
    elif type(b) is float or type(b) is int or type(b) is bool:
        bd = b  # numpy keeps a tensor's dtype against a Python scalar (NEP 50), as PyTorch
        if ad.dtype.kind != _FLOAT_KIND:
            a = _promote_scalar(a, b)
            ad = a._data
    else:
        return _binary(op_cls, a, _operand(b), reflected)
    # true division of integers gives float32 (``Op.int_to_float``; a partial has none)
    if ad.dtype.kind != _FLOAT_KIND and getattr(op_cls, "int_to_float", False):
        a, ad = a.float(), ad.astype(np.float32)
        if isinstance(b, Tensor) and bd.dtype.kind != _FLOAT_KIND:
            b, bd = b.float(), bd.astype(np.float32)
    if reflected:
        a, b, ad, bd = b, a, bd, ad
    op = op_cls()
    try:
        out = op.forward(ad, bd)
    except ValueError:
        message = broadcast_error(np.shape(ad), np.shape(bd))
        if message is None:
            raise
        raise RuntimeError(message) from None
    except OverflowError:  # a Python int beyond the other operand's integer range
        if type(bd) is builtins.int:
            bd = wrapped_int(bd, ad.dtype)
        else:
            ad = wrapped_int(ad, bd.dtype)
        out = op.forward(ad, bd)
    return _finish(op, (a, b), (ad, bd), out)


def _unary(op_cls: Callable[[], RecordedOp], a: Tensor) -> Tensor:
    """Run a one-input float op; integer inputs are cast to float32 first, as PyTorch."""
    data = _float_data(a)
    op = op_cls()
    return _finish(op, (a,), (data,), op.forward(data))


def _compare(ufunc: Any, a: Tensor, b: Any) -> Tensor:
    """Comparisons and logical ops: a bool tensor outside the graph."""
    b = _operand(b)
    bd = b._data if isinstance(b, Tensor) else b
    try:
        return _wrap(ufunc(a._data, bd))
    except ValueError:
        message = broadcast_error(a.shape, np.shape(bd))
        if message is None:
            raise
        raise RuntimeError(message) from None


def _tensor_arg(value: Any, name: str, fn: str) -> Tensor:
    """``value``, checked to be a Tensor, as torch checks a function's Tensor arguments."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(value).__name__}")
    return value
