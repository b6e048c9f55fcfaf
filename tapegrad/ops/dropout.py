"""Dropout: dropout and dropout2d."""

from __future__ import annotations
