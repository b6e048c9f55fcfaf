"""Triangles and diagonals: tril, triu, diag, diagonal."""

from __future__ import annotations
