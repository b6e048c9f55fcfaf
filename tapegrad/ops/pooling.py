"""Pooling: max_pool, avg_pool and adaptive pools over strided windows."""

from __future__ import annotations
