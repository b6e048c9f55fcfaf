"""Padding: nn.functional.pad (constant, reflect, replicate, circular)."""

from __future__ import annotations
