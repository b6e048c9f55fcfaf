"""Sorting and order statistics: sort, argsort, topk, kthvalue, median."""

from __future__ import annotations
