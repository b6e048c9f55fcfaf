"""The namespace backward rules run on when the backward pass is recorded
(``create_graph=True``): the same calls as ``ArrayNamespace``, on Tensors, through the ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.engine.node import Node
from tapegrad.ops.compare import where
from tapegrad.ops.indexing import IndexIntoZeros
from tapegrad.ops.pointwise import ThresholdBackward
from tapegrad.ops.shape import cat
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap


class TensorNamespace:
    """The functions backward rules call, on Tensors, so the backward pass is recorded.

    Besides the ones written out below, ``xp.<name>(a, *args)`` is ``a.<name>(*args)``: the
    Tensor method of that name (``ArrayNamespace`` gives numpy's function of the same name).
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not callable(getattr(Tensor, name, None)):
            raise AttributeError(f"the recorded backward namespace has no function {name!r}")

        def method(a: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(a, Tensor):
                a = _wrap(np.asarray(a))
            return getattr(a, name)(*args, **kwargs)

        method.__name__ = name
        return method

    @staticmethod
    def from_edge(array: np.ndarray, node: Node, index: int) -> Tensor:
        return _wrap(array, node, index)

    @staticmethod
    def exp(a: Tensor) -> Tensor:
        return a.exp()

    @staticmethod
    def log(a: Tensor) -> Tensor:
        return a.log()

    @staticmethod
    def sqrt(a: Tensor) -> Tensor:
        return a.sqrt()

    @staticmethod
    def matmul(a: Tensor, b: Tensor) -> Tensor:
        return a.matmul(b)

    @staticmethod
    def sign(a: Tensor) -> Tensor:
        return a.sign()

    @staticmethod
    def zeros_like(a: Tensor) -> Tensor:
        return _wrap(np.zeros_like(a._data))

    @staticmethod
    def floor_divide(a: Tensor, b: Tensor) -> Tensor:
        return a.div(b, rounding_mode="floor")  # piecewise constant: DivBackward2, zeros

    @staticmethod
    def sum(a: Tensor, axis: tuple[int, ...], keepdims: bool = True) -> Tensor:
        return a.sum(axis, keepdim=keepdims)

    @staticmethod
    def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
        return a.reshape(shape)

    @staticmethod
    def permute(a: Tensor, axes: tuple[int, ...]) -> Tensor:
        return a.permute(axes)

    @staticmethod
    def expand(a: Tensor, shape: tuple[int, ...]) -> Tensor:
        return a.expand(shape)

    @staticmethod
    def sum_to(a: Tensor, shape: tuple[int, ...]) -> Tensor:
        return a.sum_to_size(shape)

    @staticmethod
    def index(a: Tensor, key: Any) -> Tensor:
        return a[key]

    @staticmethod
    def index_into_zeros(g: Tensor, shape: tuple[int, ...], key: Any, accumulate: bool) -> Tensor:
        return _run_op(
            IndexIntoZeros(), (g,), (g._data,), shape=shape, key=key, accumulate=accumulate
        )

    @staticmethod
    def cat(parts: list[Tensor], axis: int) -> Tensor:
        return cat(parts, axis)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Tensor:
        return where(cond if isinstance(cond, Tensor) else _wrap(np.asarray(cond)), a, b)

    @staticmethod
    def mul_const(g: Tensor, const: Any) -> Tensor:
        if isinstance(const, Tensor):  # relu's mask, standing for its result
            return _run_op(ThresholdBackward(), (g, const), (g._data, const._data))
        return g * _wrap(const)

    @staticmethod
    def zeros(shape: tuple[int, ...], dtype: np.dtype) -> Tensor:
        """A constant: zeros of ``shape`` (a multi-output node's missing output gradients)."""
        return _wrap(np.zeros(shape, dtype))
