"""Adam (and AMSGrad, and AdamW through ``decoupled_weight_decay``), as torch.optim.Adam."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tapegrad.factories import zeros_like
from tapegrad.optim.optimizer import Optimizer
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
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        """Validate the hyperparameters with torch's messages and build the groups."""
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _state(self, param: Tensor, amsgrad: bool) -> dict[str, Any]:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_like(param)
            state["exp_avg_sq"] = zeros_like(param)
            if amsgrad:
                state["max_exp_avg_sq"] = zeros_like(param)
        return state

    def _update(self, param: Tensor, group: dict[str, Any]) -> None:
        grad = -param.grad if group["maximize"] else param.grad
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        state = self._state(param, group["amsgrad"])
        state["step"] += 1
        step = state["step"]
        if decay != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * decay)
            else:
                grad = grad.add(param, alpha=decay)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - beta1)
        # Same operation order as torch's addcmul_ (value * g * g), for identical rounding.
        exp_avg_sq.mul_(beta2).add_(grad.mul(1 - beta2).mul(grad))
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"]
            second.copy_(second.maximum(exp_avg_sq))
        denom = (second.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        # torch's addcdiv_: p + (value * m) / denom.
        param.add_(exp_avg.mul(-step_size).div(denom))


def _lerp_(start: Tensor, end: Tensor, weight: float) -> Tensor:
    """torch's ``lerp_`` in place, with its two formulas (the stable one on each side of 0.5)."""
    if weight < 0.5:
        return start.add_(end.sub(start).mul(weight))
    return start.copy_(end.sub(end.sub(start).mul(1 - weight)))
