"""Attention: scaled_dot_product_attention and embedding lookups."""

from __future__ import annotations
