"""Function forms of the tensor operations and the tensor factories (``tapegrad.ones``...)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import broadcast_error, normalize_dim
from tapegrad.ops import elementwise as E
from tapegrad.ops import shape as S
from tapegrad.tensor import (
    FLOAT_OR_COMPLEX_ONLY,
    Tensor,
    _as_tensor,
    _check_int_range,
    _join_dtype,
    _promote_scalar,
    _result_dtype,
    _run_op,
    _scalar_type_name,
    _shape_arg,
    _wrap,
)

# ----------------------------------------------------------------------------- random state

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator used by ``randn``, ``rand`` and ``nn.init``."""
    global _generator
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator behind ``randn``/``rand`` (reseeded by ``manual_seed``)."""
    return _generator


# ----------------------------------------------------------------------------- factories


def _factory_dtype(dtype: Any) -> np.dtype:
    return _dtypes.DEFAULT_FLOAT.np if dtype is None else _dtypes.to_numpy_dtype(dtype)


def _leaf(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = _wrap(data)
    if requires_grad:
        t._set_requires_grad(True, FLOAT_OR_COMPLEX_ONLY)
    return t


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor from numbers, nested lists or an array (floats become float32)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    _check_size_given(size, "ones")
    return _leaf(np.ones(_new_size(size), _factory_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (fill it before reading it)."""
    _check_size_given(size, "empty")
    return _leaf(np.empty(_new_size(size), _factory_dtype(dtype)), requires_grad)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    _check_size_given(size, "zeros")
    return _leaf(np.zeros(_new_size(size, "zeros"), _factory_dtype(dtype)), requires_grad)


def full(
    size: Sequence[int], fill_value: Any, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as PyTorch)."""
    if dtype is None:
        dtype = (
            _dtypes.bool
            if isinstance(fill_value, bool)
            else _dtypes.int64
            if isinstance(fill_value, int)
            else None
        )
    np_dtype = _factory_dtype(dtype)
    if np_dtype.kind in "iu" and isinstance(fill_value, int | float):
        value = np.array(fill_value)
        _check_int_range(value, np_dtype, f"{np_dtype.name}_t")  # torch's C++ type name
        fill_value = value.astype(np_dtype)  # -1 wraps to 255 in uint8, as in torch
    return _leaf(np.full(_new_size((size,)), fill_value, np_dtype), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape and dtype."""
    _check_like_input(t, "ones_like")
    np_dtype = t._data.dtype if dtype is None else _dtypes.to_numpy_dtype(dtype)
    return _leaf(np.ones(t.shape, np_dtype), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape and dtype."""
    _check_like_input(t, "zeros_like")
    np_dtype = t._data.dtype if dtype is None else _dtypes.to_numpy_dtype(dtype)
    return _leaf(np.zeros(t.shape, np_dtype), requires_grad)


def _check_like_input(t: Any, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"{name}(): argument 'input' (position 1) must be Tensor, not {type(t).__name__}"
        )


def randn(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Standard normal samples from the seeded generator."""
    np_dtype = _random_dtype(dtype, "normal_kernel_cpu")
    gen = generator or _generator
    return _leaf(gen.standard_normal(_new_size(size), dtype=np_dtype), requires_grad)


def rand(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Uniform samples on [0, 1) from the seeded generator."""
    np_dtype = _random_dtype(dtype, "check_uniform_bounds")
    gen = generator or _generator
    return _leaf(gen.random(_new_size(size), dtype=np_dtype), requires_grad)


def _check_size_given(size: tuple[Any, ...], name: str) -> None:
    if not size:  # ``zeros(())`` is a 0-d tensor; ``zeros()`` is a mistake
        raise TypeError(f'{name}() missing 1 required positional arguments: "size"')


def _new_size(size: Any, checked_by: str | None = None) -> tuple[int, ...]:
    """A factory's shape: torch refuses negative sizes (view and reshape take -1), in words
    that depend on the factory."""
    shape = _shape_arg(size)
    for d in shape:
        if d < 0 and checked_by:
            raise RuntimeError(f"{checked_by}: Dimension size must be non-negative.")
        if d < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {d}: {list(shape)}"
            )
    return shape


def _random_dtype(dtype: Any, kernel: str) -> np.dtype:
    """The dtype of random samples: a float one, or torch's error naming its kernel."""
    np_dtype = _factory_dtype(dtype)
    if np_dtype.kind != "f":
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{_scalar_type_name(np_dtype)}'"
        )
    return np_dtype


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 unless a bound is a float.

    As torch: float values are computed in float64 and then cast (``arange(0, 1, 0.1)`` ends
    at float32(0.9)); an integer dtype truncates the bounds and the step first.
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_bound(v) for v in (start, end, step))
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = _dtypes.int64 if ints else _dtypes.DEFAULT_FLOAT
    np_dtype = _dtypes.to_numpy_dtype(dtype)
    if np_dtype.kind in "iub":
        start, end, step = (math.trunc(v) for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    for bound in (start, end):
        if not math.isfinite(bound):
            raise RuntimeError(f"unsupported range: {_number(start)} -> {_number(end)}")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    values = np.arange(start, end, step, dtype=np.float64 if np_dtype.kind == "f" else np_dtype)
    return _leaf(values.astype(np_dtype, copy=False), requires_grad)


def _bound(value: Any) -> Any:
    """An arange bound as a Python number (a one-element tensor gives its value)."""
    return value.item() if isinstance(value, Tensor | np.generic) else value


def _number(value: float) -> str:
    """A bound as torch prints it in arange's errors: 0, inf, 1.5."""
    return str(int(value)) if isinstance(value, int) or float(value).is_integer() else str(value)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a numpy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtypes.from_numpy_dtype(array.dtype)
    return _wrap(array)


# ----------------------------------------------------------------------------- operations


def add(input: Tensor, other: Any, alpha: float = 1) -> Tensor:  # noqa: A002
    """``input + alpha * other``."""
    return _as_tensor(input).add(other, alpha=alpha)


def sub(input: Tensor, other: Any, alpha: float = 1) -> Tensor:  # noqa: A002
    """``input - alpha * other``."""
    return _as_tensor(input).sub(other, alpha=alpha)


def mul(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """Elementwise product."""
    return _as_tensor(input) * other


def div(input: Tensor, other: Any, rounding_mode: str | None = None) -> Tensor:  # noqa: A002
    """Elementwise division: true, or rounded by ``'floor'`` or ``'trunc'``."""
    return _as_tensor(input).div(other, rounding_mode=rounding_mode)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001,A002
    """``input ** exponent``."""
    if not isinstance(input, Tensor):
        return exponent.__rpow__(input)
    return input.pow(exponent)


def _method(name: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(_as_tensor(input), name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"Function form of ``Tensor.{name}``."
    return fn


neg = _method("neg")
exp = _method("exp")
log = _method("log")
sqrt = _method("sqrt")
abs = _method("abs")  # noqa: A001
tanh = _method("tanh")
sigmoid = _method("sigmoid")
relu = _method("relu")
clamp = _method("clamp")
sum = _method("sum")  # noqa: A001
mean = _method("mean")
max = _method("max")  # noqa: A001
min = _method("min")  # noqa: A001
argmax = _method("argmax")
argmin = _method("argmin")
logsumexp = _method("logsumexp")
softmax = _method("softmax")
log_softmax = _method("log_softmax")
mm = _method("mm")
matmul = _method("matmul")
dot = _method("dot")
t = _method("t")
transpose = _method("transpose")
permute = _method("permute")
reshape = _method("reshape")
flatten = _method("flatten")
squeeze = _method("squeeze")
unsqueeze = _method("unsqueeze")
sign = _method("sign")
clone = _method("clone")


def addmm(
    input: Tensor,  # noqa: A002
    mat1: Tensor,
    mat2: Tensor,
    beta: float = 1,
    alpha: float = 1,
) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` in one node (AddmmBackward0), as
    ``torch.addmm``."""
    return _as_tensor(input).addmm(mat1, mat2, beta=beta, alpha=alpha)


def maximum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise maximum; ties split the gradient evenly."""
    return _as_tensor(input).maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise minimum; ties split the gradient evenly."""
    return _as_tensor(input).minimum(other)


_NOTHING: Any = object()  # where()'s missing arguments (None could be a value)


def where(condition: Tensor, input: Any = _NOTHING, other: Any = _NOTHING) -> Any:  # noqa: A002
    """``input`` where ``condition`` is true, else ``other`` (broadcast together). With the
    condition alone: the indices of its nonzero elements, one int64 tensor per dimension."""
    if input is _NOTHING and other is _NOTHING:
        data = _as_tensor(condition)._data
        return tuple(_wrap(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(data)))
    if input is _NOTHING or other is _NOTHING:
        raise TypeError("where() takes a condition alone, or a condition, input and other")
    cond = _as_tensor(condition)._data
    if cond.dtype != np.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor "
            f"with dtype {_scalar_type_name(cond.dtype)}"
        )
    a = input if isinstance(input, Tensor) else None
    b = other if isinstance(other, Tensor) else None
    if a is None and b is None:
        return _wrap(
            np.where(cond, input, other).astype(
                np.float32 if isinstance(input, float) or isinstance(other, float) else np.int64
            )
        )
    ad = a._data if a is not None else input
    bd = b._data if b is not None else other
    if a is not None and b is not None and ad.dtype != bd.dtype:
        target = _result_dtype(a, b)  # computed in; no cast recorded, as torch (see _binary)
        ad, bd = ad.astype(target, copy=False), bd.astype(target, copy=False)
    elif b is None:
        ad = _promote_scalar(a, other)._data  # an int tensor with 0.5: float32, as torch
    elif a is None:
        bd = _promote_scalar(b, input)._data
    shapes = [np.shape(cond), np.shape(ad), np.shape(bd)]
    for x, y in ((0, 1), (0, 2), (1, 2)):
        message = broadcast_error(shapes[x], shapes[y])
        if message:
            raise RuntimeError(message)
    return _run_op(
        E.Where(),
        (a if a is not None else input, b if b is not None else other),
        (ad, bd),
        cond=cond,
    )


def _join_inputs(tensors: Sequence[Tensor], name: str) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(
            f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"
        )
    if not len(tensors):
        if name == "stack":  # torch words the two differently
            raise RuntimeError("stack expects a non-empty TensorList")
        raise ValueError(f"tapegrad.{name}(): expected a non-empty list of Tensors")
    return [_as_tensor(x) for x in tensors]


def _promoted_arrays(parts: Sequence[Tensor]) -> list[np.ndarray]:
    """The parts' arrays in their common dtype (no cast recorded, as torch: see _binary)."""
    target = _join_dtype([p._data.dtype for p in parts])
    return [p._data.astype(target, copy=False) for p in parts]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    parts = _join_inputs(tensors, "cat")
    for i, p in enumerate(parts):
        if not p.ndim:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    axis = normalize_dim(dim, parts[0].ndim)
    for i, p in enumerate(parts):
        if p.ndim != parts[0].ndim or any(
            a != b for j, (a, b) in enumerate(zip(p.shape, parts[0].shape)) if j != axis
        ):
            if p.ndim != parts[0].ndim:
                raise RuntimeError(
                    f"Tensors must have same number of dimensions: got {parts[0].ndim} and {p.ndim}"
                )
            dim = next(
                j for j, (a, b) in enumerate(zip(p.shape, parts[0].shape)) if a != b and j != axis
            )
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {axis}. Expected size "
                f"{parts[0].shape[dim]} but got size {p.shape[dim]} for tensor number {i} "
                "in the list."
            )
    return _run_op(S.Cat(), parts, _promoted_arrays(parts), axis=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join along a new dimension."""
    parts = _join_inputs(tensors, "stack")
    axis = normalize_dim(dim, parts[0].ndim + 1)
    for i, p in enumerate(parts):
        if p.shape != parts[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(parts[0].shape)} at "
                f"entry 0 and {list(p.shape)} at entry {i}"
            )
    return _run_op(S.Stack(), parts, _promoted_arrays(parts), axis=axis)


def is_tensor(obj: Any) -> bool:
    """True for tapegrad tensors."""
    return isinstance(obj, Tensor)
