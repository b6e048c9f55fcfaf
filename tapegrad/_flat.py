"""Gradients of many parameters as views of one flat buffer: an SGD step in a few numpy calls.

The engine adds into an existing ``.grad`` in place, and the blog's loop zeroes ``.grad``
rather than dropping it, so once each parameter's ``.grad`` is a view of one buffer it stays
one: scaling every gradient by the learning rate and zeroing them all are then one numpy call
each, instead of one (or two) per parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tapegrad.tensor import Tensor, _wrap


class FlatGrads:
    """``.grad`` of same-dtype float parameters, moved into one zero-initialised buffer.

    Building it replaces each parameter's ``.grad`` by a view of the buffer holding the same
    values (as ``zero_grad(set_to_none=True)`` replaces them, the ``.grad`` objects change;
    their values do not). ``sgd_step`` checks that nothing was replaced since.
    """

    def __init__(self, params: Sequence[Tensor]) -> None:
        self.params = list(params)
        self.datas = [p._data for p in self.params]
        sizes = [d.size for d in self.datas]
        self.buffer = np.zeros(sum(sizes), self.datas[0].dtype)
        self.scaled = np.empty_like(self.buffer)
        self.grads: list[Tensor] = []
        self.deltas: list[np.ndarray] = []
        start = 0
        for p, data, size in zip(self.params, self.datas, sizes):
            view = self.buffer[start : start + size].reshape(data.shape)
            if p._grad is not None:
                view[...] = p._grad._data
            p._grad = grad = _wrap(view)
            self.grads.append(grad)
            self.deltas.append(self.scaled[start : start + size].reshape(data.shape))
            start += size
        # the version counters the step bumps: each parameter's (sub_) and each .grad's (zero_)
        self.counters = [t._vc for t in (*self.params, *self.grads)]

    @classmethod
    def for_params(cls, params: Sequence[Tensor]) -> FlatGrads | None:
        """A buffer behind ``params``' gradients, or None when ``supports`` says no."""
        return cls(params) if cls.supports(params) else None

    @staticmethod
    def supports(params: Sequence[Tensor]) -> bool:
        """True for writeable float leaves of one dtype that require grad (a frozen
        parameter keeps ``.grad`` None)."""
        if not params or len({id(p) for p in params}) != len(params):
            return False
        dtype = params[0]._data.dtype
        return all(
            isinstance(p, Tensor)
            and p.grad_fn is None
            and p._requires_grad
            and p._data.dtype == dtype
            and dtype.kind == "f"
            and p._data.flags.writeable
            and (p._grad is None or p._grad.shape == p._data.shape)
            for p in params
        )

    def intact(self) -> bool:
        """True while every parameter still has its array and its ``.grad`` view."""
        for p, data, grad in zip(self.params, self.datas, self.grads):
            if p._data is not data or p._grad is not grad or grad._data.base is not self.buffer:
                return False
        return True

    def sgd_step(self, lr: float) -> None:
        """``p.sub_(lr * p.grad)`` then ``p.grad.zero_()`` for every parameter, bit for bit,
        with one multiply and one fill for all of them. Call only while ``intact()``."""
        np.multiply(self.buffer, lr, out=self.scaled)
        subtract = np.subtract  # ``out`` given positionally: cheaper than by keyword
        for data, delta in zip(self.datas, self.deltas):  # intact: each p._data is data
            subtract(data, delta, data)
        for counter in self.counters:
            counter[0] += 1
        self.buffer.fill(0)
