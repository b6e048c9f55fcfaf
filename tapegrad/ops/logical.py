"""Elementwise tests and logic: isnan, isinf, isfinite, logical_*, bitwise_not, shifts."""

from __future__ import annotations
