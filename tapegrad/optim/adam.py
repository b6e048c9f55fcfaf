"""Adam (and AMSGrad, and AdamW through ``decoupled_weight_decay``), as torch.optim.Adam."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tapegrad.optim import _functional as F
from tapegrad.optim.optimizer import Optimizer, check_flags
from tapegrad.tensor import Tensor


class Adam(Optimizer):
    """torch.optim.Adam: bias-corrected moment estimates,
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        """Validate the hyperparameters with torch's messages and build the groups."""
        _check_hyperparameters(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        check_flags(foreach, fused, differentiable, capturable)

    def _state(self, param: Tensor, amsgrad: bool) -> dict[str, Any]:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = F.zeros_state(param)
            state["exp_avg_sq"] = F.zeros_state(param)
            if amsgrad:
                state["max_exp_avg_sq"] = F.zeros_state(param)
        return state

    def _update(self, param: Tensor, group: dict[str, Any]) -> None:
        p = F.data(param)
        grad = F.gradient(param, group["maximize"])
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        state = self._state(param, group["amsgrad"])
        state["step"] += 1
        step = state["step"]
        if decay != 0:
            if group["decoupled_weight_decay"]:
                np.multiply(p, F.scalar(1 - lr * decay, p), out=p)
            else:
                grad = F.add(grad, p, decay)
        exp_avg, exp_avg_sq = F.data(state["exp_avg"]), F.data(state["exp_avg_sq"])
        F.lerp_(exp_avg, grad, 1 - beta1)
        np.multiply(exp_avg_sq, F.scalar(beta2, exp_avg_sq), out=exp_avg_sq)
        F.addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        second = exp_avg_sq
        if group["amsgrad"]:
            second = F.data(state["max_exp_avg_sq"])
            np.maximum(second, exp_avg_sq, out=second)
            F.bump(state["max_exp_avg_sq"])
        denom = np.sqrt(second)
        np.divide(denom, F.scalar(bias_correction2_sqrt, denom), out=denom)
        np.add(denom, F.scalar(group["eps"], denom), out=denom)
        F.addcdiv_(p, exp_avg, denom, -step_size)
        F.bump(param, state["exp_avg"], state["exp_avg_sq"])


def _check_hyperparameters(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    """torch's messages for Adam's and AdamW's hyperparameters."""
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not eps >= 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if not weight_decay >= 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, ``p *= 1 - lr * weight_decay``
    before the Adam step (``weight_decay`` defaults to 1e-2)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        """Adam's checks and groups, with ``decoupled_weight_decay=True``."""
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def _after_load(self) -> None:
        # As torch: a loaded state never turns AdamW's decoupled decay off.
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
