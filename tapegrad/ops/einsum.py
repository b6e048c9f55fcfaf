"""einsum: Einstein summation over tensors."""

from __future__ import annotations
