"""Rearranging elements: flip, roll, repeat, tile, narrow, split, chunk, unbind, movedim."""

from __future__ import annotations
