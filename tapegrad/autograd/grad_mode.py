"""Grad modes, under their ``torch.autograd.grad_mode`` name (they live in the core)."""

from tapegrad.engine.grad_mode import (  # noqa: F401
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
