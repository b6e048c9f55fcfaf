"""Loss modules: ``MSELoss`` and ``CrossEntropyLoss`` (wrappers of ``nn.functional``)."""

from __future__ import annotations

from tapegrad.nn import functional as F
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor


class MSELoss(Module):
    """Mean squared error between ``input`` and ``target`` (``reduction``: mean|sum|none)."""

    def __init__(self, reduction: str = "mean") -> None:
        """Remember the reduction."""
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """The loss."""
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(Module):
    """Cross entropy of logits (N, C) against int64 class targets (N,) or probabilities."""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        """Remember the reduction and the target value to ignore."""
        super().__init__()
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """The loss."""
        return F.cross_entropy(
            input, target, ignore_index=self.ignore_index, reduction=self.reduction
        )
