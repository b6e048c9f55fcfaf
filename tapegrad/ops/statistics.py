"""Whole-tensor and per-dim statistics: all, any, prod, var, std, norm, amax, amin, aminmax."""

from __future__ import annotations
