"""Smooth elementwise functions: erf, erfc, exp2, expm1, log2, log10, log1p, rsqrt, square,
logaddexp, lerp and copysign."""

from __future__ import annotations
