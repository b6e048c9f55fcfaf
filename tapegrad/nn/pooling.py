"""Pooling modules: MaxPool1d/2d, AvgPool1d/2d, adaptive pools."""

from __future__ import annotations

__all__: list[str] = []
