"""Convolution modules: Conv1d, Conv2d, ConvTranspose2d."""

from __future__ import annotations

__all__: list[str] = []
