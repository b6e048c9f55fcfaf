"""``tapegrad.cuda``: there is no GPU in tapegrad, so that ``"cuda" if tapegrad.cuda.is_available()
else "cpu"`` (a PyTorch habit) picks the CPU."""

from __future__ import annotations


def is_available() -> bool:
    """False: tapegrad computes with numpy, on the CPU."""
    return False


def device_count() -> int:
    """0: tapegrad has no CUDA devices."""
    return 0
