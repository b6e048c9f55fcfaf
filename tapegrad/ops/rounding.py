"""Rounding: floor, ceil, round, trunc and frac."""

from __future__ import annotations
