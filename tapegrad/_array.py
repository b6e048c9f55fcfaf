"""Numpy-only helpers shared by the engine and the ops: reducing to a shape, shape checks."""

from __future__ import annotations

import numpy as np


def sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched so it has `shape`.

    Raises ValueError when `grad` could not have been broadcast from `shape`.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = list(range(lead))
    for i, (s, g) in enumerate(zip(shape, grad.shape[lead:])):
        if s != g:
            if s != 1:
                raise ValueError(
                    f"gradient of shape {list(grad.shape)} can't be summed to {list(shape)}"
                )
            axes.append(lead + i)
    if lead < 0:
        raise ValueError(f"gradient of shape {list(grad.shape)} can't be summed to {list(shape)}")
    return grad.sum(axis=tuple(axes)).reshape(shape) if axes else grad.reshape(shape)


def broadcast_error(a: tuple[int, ...], b: tuple[int, ...]) -> str | None:
    """PyTorch's message for shapes that do not broadcast, or None when they do."""
    for i in range(1, min(len(a), len(b)) + 1):
        sa, sb = a[-i], b[-i]
        if sa != sb and sa != 1 and sb != 1:
            dim = max(len(a), len(b)) - i
            return (
                f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) "
                f"at non-singleton dimension {dim}"
            )
    return None


def normalize_dim(dim: int, ndim: int) -> int:
    """Wrap a negative dimension; raise IndexError as PyTorch does when out of range."""
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})"
        )
    return dim % max(ndim, 1)


def normalize_dims(dim: int | tuple[int, ...] | list[int] | None, ndim: int) -> tuple[int, ...]:
    """Normalize an int, a sequence of ints or None (all axes) to a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = tuple(sorted({normalize_dim(d, ndim) for d in dims}))
    if len(out) != len(dims):
        raise RuntimeError("dim appears multiple times in the list of dims")
    return out if ndim else ()


def shape_str(shape: tuple[int, ...]) -> str:
    """Format a shape as PyTorch's messages do: ``[2, 3]``."""
    return "[" + ", ".join(str(s) for s in shape) + "]"
