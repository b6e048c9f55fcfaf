"""Adagrad, as torch.optim.Adagrad."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tapegrad.optim import _functional as F
from tapegrad.optim.optimizer import Optimizer, check_flags
from tapegrad.tensor import Tensor


class Adagrad(Optimizer):
    """torch.optim.Adagrad: ``s += g**2``; ``p -= clr * g / (sqrt(s) + eps)`` with
    ``clr = lr / (1 + (t - 1) * lr_decay)``. State (``step`` 0 and ``sum`` filled with
    ``initial_accumulator_value``) exists from construction, as torch's."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        """Validate the hyperparameters with torch's messages and build the groups."""
        for name, value in (
            ("learning rate", lr),
            ("lr_decay value", lr_decay),
            ("weight_decay value", weight_decay),
            ("initial_accumulator_value value", initial_accumulator_value),
            ("epsilon value", eps),
        ):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name}: {value}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        check_flags(foreach, fused, differentiable)

    def _init_state(self, group: dict[str, Any]) -> None:
        for param in group["params"]:
            self._state(param, group)

    def _state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["sum"] = F.zeros_state(param, group["initial_accumulator_value"])
        return state

    def _update(self, param: Tensor, group: dict[str, Any]) -> None:
        p = F.data(param)
        grad = F.gradient(param, group["maximize"])
        state = self._state(param, group)
        state["step"] += 1
        step = state["step"]
        if group["weight_decay"] != 0:
            grad = F.add(grad, p, group["weight_decay"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        total = F.data(state["sum"])
        F.fma(grad, grad, total, out=total)
        std = np.sqrt(total)
        np.add(std, F.scalar(group["eps"], std), out=std)
        F.addcdiv_(p, grad, std, -clr)
        F.bump(param, state["sum"])
