"""Trigonometric and hyperbolic functions, and atan2 and hypot."""

from __future__ import annotations
