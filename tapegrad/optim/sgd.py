"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tapegrad.factories import from_numpy
from tapegrad.optim import _functional as F
from tapegrad.optim.optimizer import Optimizer, check_flags
from tapegrad.tensor import Tensor


class SGD(Optimizer):
    """torch.optim.SGD: ``g += weight_decay * p``; ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` at first); then ``p -= lr * (g + momentum * buf if nesterov else buf)``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        """Validate the hyperparameters with torch's messages and build the groups."""
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_flags(foreach, fused, differentiable)

    def _update(self, param: Tensor, group: dict[str, Any]) -> None:
        p = F.data(param)
        grad = F.gradient(param, group["maximize"])
        if group["weight_decay"] != 0:
            grad = F.add(grad, p, group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            state = self.state[param]
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = from_numpy(np.array(grad, dtype=p.dtype))
                buf_data = state["momentum_buffer"]._data
            else:
                buf_data = F.data(buf)
                np.multiply(buf_data, F.scalar(momentum, buf_data), out=buf_data)
                F.add_(buf_data, grad, 1 - group["dampening"])
                F.bump(buf)
            grad = F.add(grad, buf_data, momentum) if group["nesterov"] else buf_data
        F.add_(p, grad, -group["lr"])
        F.bump(param)
