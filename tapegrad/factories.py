"""Tensor factories (``tapegrad.tensor``, ``ones``, ``randn``, ``arange``...) and the seeded
generator behind the random ones."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._array import _shape_arg
from tapegrad._conversion import _check_int_range
from tapegrad._dtypes import _scalar_type_name
from tapegrad.tensor import FLOAT_OR_COMPLEX_ONLY, Tensor, _wrap

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


def is_tensor(obj: Any) -> bool:
    """True for tapegrad tensors."""
    return isinstance(obj, Tensor)


# ------------------------------------------------------------- more factories


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An ``n`` x ``m`` (default ``n`` x ``n``) matrix with ones on the diagonal."""
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    return _leaf(np.eye(n, n if m is None else m, dtype=_factory_dtype(dtype)), requires_grad)


def linspace(
    start: Any, end: Any, steps: int, *, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included.

    As torch: the first half counts up from ``start`` and the second half down from ``end``
    (so both ends are exact), in the result's dtype; integer results truncate.
    """
    np_dtype = _factory_dtype(dtype)
    values = _spaced(_bound(start), _bound(end), _steps(steps), np_dtype)
    return _leaf(values.astype(np_dtype), requires_grad)


def logspace(
    start: Any,
    end: Any,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``base`` to the powers ``linspace(start, end, steps)`` (the powers computed in the
    result's dtype, or in float64 for integer results, as torch)."""
    np_dtype = _factory_dtype(dtype)
    start, end, steps = _bound(start), _bound(end), _steps(steps)
    if np_dtype.kind in "iub":  # torch: the bounds truncated, the base a C float
        base = float(np.float32(base))
        start, end = (float(math.trunc(v)) for v in (start, end)) if steps > 1 else (start, end)
    else:
        start, end = (float(np_dtype.type(v)) for v in (start, end))
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    half = steps // 2 if steps > 1 else 1  # one step: ``start`` alone
    exponents = [
        start + step * i if i < half else end - step * (steps - i - 1) for i in range(steps)
    ]
    # math.pow is C's pow, as torch's kernel (numpy's vectorized power can differ in the last bit)
    values = np.array([_pow(float(base), x) for x in exponents], dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return _leaf(values.astype(np_dtype), requires_grad)


def _pow(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return math.inf
    except ValueError:  # a negative base to a fractional power
        return math.nan


def _steps(steps: Any) -> int:
    steps = operator.index(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return steps


def _spaced(start: Any, end: Any, steps: int, np_dtype: np.dtype) -> np.ndarray:
    """torch's linspace kernel: in the dtype for floats, a float64 step for integers."""
    work = np.dtype(np.float64) if np_dtype.kind in "iub" else np_dtype
    if np_dtype.kind in "iub":
        start, end = math.trunc(start), math.trunc(end)
    first, last = work.type(start), work.type(end)
    if steps <= 1:
        return np.full(steps, first, work)
    step = (last - first) / work.type(steps - 1)
    # torch's kernel multiplies and adds in one fused step (one rounding): for float32 the
    # float64 arithmetic below is exact until the final rounding; float64 may differ in 1 ulp
    wide = np.longdouble if work.itemsize >= 8 else np.float64
    idx = np.arange(steps, dtype=wide)
    half = steps // 2
    with np.errstate(invalid="ignore", over="ignore"):
        low = wide(first) + wide(step) * idx[:half]
        high = wide(last) - wide(step) * (steps - 1 - idx[half:])
    return np.concatenate([low, high]).astype(work)


def full_like(
    input: Tensor,  # noqa: A002 - torch's name
    fill_value: Any,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of ``input``'s shape (and dtype, unless given) filled with ``fill_value``."""
    _check_like_input(input, "full_like")
    return full(input.shape, fill_value, input.dtype if dtype is None else dtype, requires_grad)


def rand_like(
    input: Tensor,  # noqa: A002
    *,
    generator: np.random.Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``rand`` with ``input``'s shape and dtype (unless given)."""
    _check_like_input(input, "rand_like")
    dtype = input.dtype if dtype is None else dtype
    return rand(input.shape, dtype=dtype, requires_grad=requires_grad, generator=generator)


def randn_like(
    input: Tensor,  # noqa: A002
    *,
    generator: np.random.Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``randn`` with ``input``'s shape and dtype (unless given)."""
    _check_like_input(input, "randn_like")
    dtype = input.dtype if dtype is None else dtype
    return randn(input.shape, dtype=dtype, requires_grad=requires_grad, generator=generator)


def randint(
    *args: Any,
    size: Any = None,
    low: int | None = None,
    high: int | None = None,
    generator: np.random.Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform integers in ``[low, high)`` (``low`` 0 by default): ``randint(high, size)`` or
    ``randint(low, high, size)``; int64 unless ``dtype`` says otherwise."""
    low, high, size = _randint_args(args, low, high, size)
    np_dtype = _dtypes.int64.np if dtype is None else _dtypes.to_numpy_dtype(dtype)
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    if np_dtype.kind in "iub":
        info = (0, 1) if np_dtype.kind == "b" else (np.iinfo(np_dtype).min, np.iinfo(np_dtype).max)
        c_name = _C_TYPES[np_dtype.name]
        if not info[0] <= low <= info[1]:
            raise RuntimeError(f"from is out of bounds for {c_name}")
        if not info[0] <= high - 1 <= info[1]:
            raise RuntimeError(f"to - 1 is out of bounds for {c_name}")
    gen = generator or _generator
    values = gen.integers(low, high, _new_size((size,)), dtype=np.int64)
    return _leaf(values.astype(np_dtype), requires_grad)


_C_TYPES = {
    "bool": "bool",
    "uint8": "unsigned char",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long",
}


def _randint_args(args: tuple[Any, ...], low: Any, high: Any, size: Any) -> tuple[int, int, Any]:
    """torch's randint overloads: (high, size), (low, high, size), or keywords."""
    positional_low = len(args) == 3 or (len(args) == 2 and size is not None)
    if positional_low or (len(args) == 1 and high is not None):
        names: tuple[str, ...] = ("low", "high", "size")
    else:
        names = ("high", "size")
    given = dict(zip(names, args))
    low, high, size = given.get("low", low), given.get("high", high), given.get("size", size)
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: 'high' and 'size'")
    for name, value in (("low", low), ("high", high)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | np.integer)
        ):
            raise TypeError(
                f"randint(): argument '{name}' (position {names.index(name) + 1}) must be int, "
                f"not {type(value).__name__}"
            )
    if not isinstance(size, list | tuple):
        raise TypeError(
            f"randint(): argument 'size' (position {names.index('size') + 1}) must be tuple of "
            f"ints, not {type(size).__name__}"
        )
    return int(0 if low is None else low), int(high), tuple(size)


def randperm(
    n: int,
    *,
    generator: np.random.Generator | None = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of ``0 .. n - 1`` (int64 unless ``dtype`` says otherwise)."""
    n = operator.index(n)
    np_dtype = _dtypes.int64.np if dtype is None else _dtypes.to_numpy_dtype(dtype)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    if np_dtype.kind in "iu" and n - 1 > np.iinfo(np_dtype).max:
        raise RuntimeError(f"value cannot be converted to type {np_dtype.name}_t without overflow")
    gen = generator or _generator
    return _leaf(gen.permutation(n).astype(np_dtype), requires_grad)
