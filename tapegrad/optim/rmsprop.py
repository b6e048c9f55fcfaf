"""RMSprop (with momentum and the centered variant), as torch.optim.RMSprop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tapegrad.optim import _functional as F
from tapegrad.optim.optimizer import Optimizer, check_flags
from tapegrad.tensor import Tensor


class RMSprop(Optimizer):
    """torch.optim.RMSprop: ``v = alpha * v + (1 - alpha) * g**2``; with ``centered``,
    ``v - mean(g)**2`` replaces ``v``; ``p -= lr * g / (sqrt(v) + eps)``, through a momentum
    buffer ``buf = momentum * buf + g / (sqrt(v) + eps)`` when ``momentum > 0``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        """Validate the hyperparameters with torch's messages and build the groups."""
        for name, value in (
            ("learning rate", lr),
            ("epsilon value", eps),
            ("momentum value", momentum),
            ("weight_decay value", weight_decay),
            ("alpha value", alpha),
        ):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
        check_flags(foreach, None, differentiable, capturable)

    def _state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["square_avg"] = F.zeros_state(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = F.zeros_state(param)
            if group["centered"]:
                state["grad_avg"] = F.zeros_state(param)
        return state

    def _update(self, param: Tensor, group: dict[str, Any]) -> None:
        p = F.data(param)
        grad = F.gradient(param, group["maximize"])
        state = self._state(param, group)
        state["step"] += 1
        alpha, lr = group["alpha"], group["lr"]
        if group["weight_decay"] != 0:
            grad = F.add(grad, p, group["weight_decay"])
        square_avg = F.data(state["square_avg"])
        np.multiply(square_avg, F.scalar(alpha, square_avg), out=square_avg)
        F.addcmul_(square_avg, grad, grad, 1 - alpha)
        changed = [param, state["square_avg"]]
        if group["centered"]:
            grad_avg = F.data(state["grad_avg"])
            F.lerp_(grad_avg, grad, 1 - alpha)
            avg = np.sqrt(F.fma(np.negative(grad_avg), grad_avg, square_avg))
            changed.append(state["grad_avg"])
        else:
            avg = np.sqrt(square_avg)
        np.add(avg, F.scalar(group["eps"], avg), out=avg)
        if group["momentum"] > 0:
            buf = F.data(state["momentum_buffer"])
            np.multiply(buf, F.scalar(group["momentum"], buf), out=buf)
            F.addcdiv_(buf, grad, avg, 1)
            F.add_(p, buf, -lr)
            changed.append(state["momentum_buffer"])
        else:
            F.addcdiv_(p, grad, avg, -lr)
        F.bump(*changed)
