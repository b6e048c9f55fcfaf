"""Conversions and PyTorch's everyday tensor habits: ``to`` (dtype, device or another tensor)
and its shorthands (``float()``, ``cpu()``, ``type()``...), ``device``, ``detach_``, the
``new_*`` factories, size queries and ``format(t, ".4f")`` on 0-d tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad import _dtypes, factories
from tapegrad._device import CPU, check_cpu, device
from tapegrad._dtypes import _FLOAT_KIND
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# PyTorch's legacy tensor type names (``t.type()``), by dtype name.
_TYPE_NAMES = {
    "float16": "HalfTensor",
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "int16": "ShortTensor",
    "int32": "IntTensor",
    "int64": "LongTensor",
    "bool": "BoolTensor",
}
_DTYPE_OF_TYPE = {name: dtype for dtype, name in _TYPE_NAMES.items()}


class ToDtype(Op):
    """A dtype cast; the engine casts the gradient back at the edge."""

    __slots__ = ()
    node_name = "ToCopyBackward0"

    def forward(self, a: np.ndarray, np_dtype: np.dtype) -> np.ndarray:
        return a.astype(np_dtype)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


def _cast(t: Tensor, target: np.dtype, copy: bool) -> Tensor:
    if target == t._data.dtype and not copy:
        return t
    if target.kind != _FLOAT_KIND:
        return _wrap(t._data.astype(target))
    return _run_op(ToDtype(), (t,), (t._data,), np_dtype=target)


def _to_target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The dtype a ``to(...)`` call asks for (None: keep), after checking its device."""
    dtype = kwargs.pop("dtype", None)
    where = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, _dtypes.dtype) or arg in (float, int, bool):
            dtype = arg
        elif isinstance(arg, str | device | int) and where is None:
            where = arg
        else:
            raise TypeError(
                f"to() received an invalid combination of arguments - got ({type(arg).__name__}): "
                "expected a dtype, a device ('cpu') or a Tensor"
            )
    if where is not None:
        check_cpu(where)
    return dtype


@declare(function=False)
def to(self, *args: Any, non_blocking: bool = False, copy: bool = False, **kwargs: Any) -> Tensor:
    """Cast and/or move, as ``torch.Tensor.to``: ``to(dtype)``, ``to("cpu")``,
    ``to(device, dtype)``, ``to(other)`` (other's dtype), ``to(dtype=..., device=...)``.
    Returns self when nothing changes unless ``copy=True``; a float result stays in the graph
    (ToCopyBackward0)."""
    kwargs.pop("memory_format", None)  # every tapegrad tensor is contiguous
    dtype = _to_target(args, kwargs)
    target = self._data.dtype if dtype is None else _dtypes.to_numpy_dtype(dtype)
    return _cast(self, target, copy)


@declare(function=False)
def cpu(self, memory_format: Any = None) -> Tensor:
    """This tensor: tapegrad's tensors are always on the CPU."""
    return self


@declare(function=False)
def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
    """Refused: tapegrad has no GPU (it says what to do instead)."""
    check_cpu("cuda" if device is None else device)
    return self


@declare(name="type", function=False)
def tensor_type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
    """With no argument, the type's name (``"tapegrad.FloatTensor"``); with a dtype or a type
    name (``"torch.DoubleTensor"`` is accepted too), this tensor cast to it."""
    if dtype is None:
        return f"tapegrad.{_TYPE_NAMES[self._data.dtype.name]}"
    if isinstance(dtype, str) and dtype.rpartition(".")[2] in _DTYPE_OF_TYPE:
        dtype = _DTYPE_OF_TYPE[dtype.rpartition(".")[2]]
    return _cast(self, _dtypes.to_numpy_dtype(dtype), copy=False)


@declare(function=False)
def type_as(self, other: Tensor) -> Tensor:
    """This tensor cast to ``other``'s dtype."""
    return _cast(self, other._data.dtype, copy=False)


@declare(name="float", function=False)
def tensor_float(self) -> Tensor:
    """Cast to float32."""
    return self.to(_dtypes.float32)


@declare(function=False)
def double(self) -> Tensor:
    """Cast to float64."""
    return self.to(_dtypes.float64)


@declare(function=False)
def half(self) -> Tensor:
    """Cast to float16."""
    return self.to(_dtypes.float16)


@declare(function=False)
def long(self) -> Tensor:
    """Cast to int64."""
    return self.to(_dtypes.int64)


@declare(name="int", function=False)
def tensor_int(self) -> Tensor:
    """Cast to int32."""
    return self.to(_dtypes.int32)


@declare(name="bool", function=False)
def tensor_bool(self) -> Tensor:
    """Cast to bool."""
    return self.to(_dtypes.bool)


# ---------------------------------------------------------------- where and what


@declare(name="device", is_property=True)
def tensor_device(self) -> device:
    """Where the tensor lives: always ``device(type='cpu')``."""
    return CPU


@declare(is_property=True)
def is_cpu(self) -> bool:
    """True: tapegrad's tensors live on the CPU."""
    return True


@declare(is_property=True)
def is_cuda(self) -> bool:
    """False: tapegrad has no GPU."""
    return False


@declare(is_property=True)
def output_nr(self) -> int:
    """Which output of its ``grad_fn`` this tensor is (0 for leaves and single outputs)."""
    return self._output_nr


@declare(function=False)
def element_size(self) -> int:
    """Bytes per element."""
    return self._data.itemsize


@declare(function=False)
def nelement(self) -> int:
    """Number of elements (``numel``)."""
    return self._data.size


@declare(function=False)
def ndimension(self) -> int:
    """Number of dimensions (``dim``)."""
    return self._data.ndim


@declare(function=False)
def is_floating_point(self) -> bool:
    """True for float16/32/64 tensors."""
    return self._data.dtype.kind == _FLOAT_KIND


@declare(function=False)
def is_contiguous(self, memory_format: Any = None) -> bool:
    """True: tapegrad's ops treat every tensor as contiguous."""
    return True


@declare(function=False)
def contiguous(self, memory_format: Any = None) -> Tensor:
    """This tensor (tapegrad's ops treat every tensor as contiguous)."""
    return self


@declare(name="__format__", method=False, function=False, aliases=("__format__",))
def tensor_format(self, spec: str) -> str:
    """``f"{loss:.4f}"``: a 0-d tensor formats as its Python number; others only with ``""``."""
    if self._data.ndim == 0:
        return format(self._data.item(), spec)
    return object.__format__(self, spec)


# ---------------------------------------------------------------- graph habits


@declare(function=False)
def detach_(self) -> Tensor:
    """Take this tensor out of the graph in place (it becomes a leaf without grad)."""
    if self._is_view:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    self.grad_fn = None
    self._output_nr = 0
    self._requires_grad = False
    return self


# ---------------------------------------------------------------- new_* factories


def _like_dtype(self: Tensor, dtype: Any) -> Any:
    return self.dtype if dtype is None else dtype


@declare(function=False)
def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf from ``data``, with this tensor's dtype unless ``dtype`` is given."""
    if isinstance(data, Tensor):
        data = data._data
    return factories.tensor(data, dtype=_like_dtype(self, dtype), requires_grad=requires_grad)


@declare(function=False)
def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``size``, with this tensor's dtype unless ``dtype`` is given."""
    return factories.zeros(*size, dtype=_like_dtype(self, dtype), requires_grad=requires_grad)


@declare(function=False)
def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``size``, with this tensor's dtype unless ``dtype`` is given."""
    return factories.ones(*size, dtype=_like_dtype(self, dtype), requires_grad=requires_grad)


@declare(function=False)
def new_empty(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor of ``size``, with this tensor's dtype unless ``dtype`` is given."""
    return factories.empty(*size, dtype=_like_dtype(self, dtype), requires_grad=requires_grad)


@declare(function=False)
def new_full(
    self, size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``fill_value`` everywhere, with this tensor's dtype unless ``dtype`` is given."""
    return factories.full(
        size, fill_value, dtype=_like_dtype(self, dtype), requires_grad=requires_grad
    )
