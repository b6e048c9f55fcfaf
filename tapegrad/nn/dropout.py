"""Dropout modules: Dropout, Dropout2d."""

from __future__ import annotations

__all__: list[str] = []
