"""Dropout modules: Dropout, Dropout1d, Dropout2d (identity in eval mode)."""

from __future__ import annotations

from tapegrad.nn import functional as F
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__: list[str] = ["Dropout", "Dropout1d", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        """``p``: the probability of an element (or channel) being zeroed."""
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        """``p=0.5, inplace=False``."""
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero elements with probability ``p`` while training, scaling the rest by 1/(1-p)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Apply ``F.dropout`` (the input itself in eval mode)."""
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability ``p``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Apply ``F.dropout1d``."""
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) inputs with probability ``p``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Apply ``F.dropout2d``."""
        return F.dropout2d(input, self.p, self.training, self.inplace)
