"""``Parameter``, the Tensor a Module registers as learnable, and ``zero_grads``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tapegrad.engine.grad_mode import no_grad
from tapegrad.factories import tensor as as_new_tensor
from tapegrad.tensor import FLOAT_OR_COMPLEX_ONLY, Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (``requires_grad=True``).

    ``Parameter(t)`` shares ``t``'s data. Any other data is converted as ``tapegrad.tensor``.
    """

    __slots__ = ()

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        source = _parameter_array(data)
        param = Tensor.__new__(cls)
        # Initialised empty, then given the source array itself: Parameter(t) shares t's data.
        Tensor.__init__(param, source.reshape(-1)[:0])
        param._data = source
        param._set_requires_grad(requires_grad, FLOAT_OR_COMPLEX_ONLY)
        return param

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        """Everything happens in ``__new__`` (Tensor.__init__ would reset the data)."""

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__  # print(param) shows it too, as torch


def _parameter_array(data: Any) -> np.ndarray:
    if data is None:
        return np.empty((0,), np.float32)
    if isinstance(data, Tensor):
        return data._data
    return as_new_tensor(data)._data


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Reset each tensor's ``.grad``: to None, or to zeros in place (shared by ``Module`` and
    ``Optimizer``)."""
    for param in params:
        if param.grad is None:
            continue
        if set_to_none:
            param.grad = None
            continue
        if param.grad.grad_fn is not None:
            param.grad = param.grad.detach()
        with no_grad():
            param.grad.zero_()
