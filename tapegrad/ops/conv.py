"""Convolutions: conv1d, conv2d and conv_transpose2d, as one GEMM over strided windows."""

from __future__ import annotations
