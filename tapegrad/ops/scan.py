"""Cumulative ops along a dim: cumsum, cumprod, cummax, cummin, logcumsumexp."""

from __future__ import annotations
