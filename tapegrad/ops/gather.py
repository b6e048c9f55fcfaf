"""Gathering and scattering by index: gather, scatter, index_select, masked_fill, take, nonzero."""

from __future__ import annotations
