"""Normalization: batch_norm, layer_norm, group_norm and normalize."""

from __future__ import annotations
