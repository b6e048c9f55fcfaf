"""Activation modules: GELU, SiLU, LeakyReLU, Softmax, Identity, ..."""

from __future__ import annotations

__all__: list[str] = []
