"""nn.utils: clip_grad_norm_, clip_grad_value_, parameters_to_vector."""

from __future__ import annotations

__all__: list[str] = []
