"""``tensor[key]`` and ``tensor[key] = value``.

Basic keys (ints, slices, None, ...) become a chain of Select/Slice/Unsqueeze views, as
PyTorch records them; a key with an integer array or a mask becomes one Index op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops import shape as S
from tapegrad.tensor import Tensor, _run_op, _wrap


def _component(k: Any) -> Any:
    """Normalize one key component: Tensors and lists become arrays, numpy ints become ints."""
    if isinstance(k, Tensor):
        k = k.data
    if isinstance(k, list):
        k = np.asarray(k)
    if isinstance(k, np.ndarray):
        if k.dtype.kind not in "biu":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        if k.ndim == 0 and k.dtype.kind in "iu":
            return int(k)
        return k
    if isinstance(k, np.integer):
        return int(k)
    if k is None or k is Ellipsis or isinstance(k, int | slice):
        return k
    raise IndexError(
        "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
        f"valid indices (got {type(k).__name__})"
    )


def _expand_ellipsis(key: tuple[Any, ...], ndim: int) -> tuple[Any, ...]:
    consumed = sum(
        1 if not isinstance(k, np.ndarray) else max(k.ndim, 1) if k.dtype == np.bool_ else 1
        for k in key
        if k is not None and k is not Ellipsis
    )
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    at = next((i for i, k in enumerate(key) if k is Ellipsis), None)
    if at is None:
        return key
    return key[:at] + (slice(None),) * (ndim - consumed) + key[at + 1 :]


def _normalize_key(t: Tensor, key: Any) -> tuple[Any, ...]:
    key = key if isinstance(key, tuple) else (key,)
    return _expand_ellipsis(tuple(_component(k) for k in key), t.ndim)


def getitem(t: Tensor, key: Any) -> Tensor:
    """Index a tensor with PyTorch's (numpy's) rules, recording the ops."""
    key = _normalize_key(t, key)
    if any(isinstance(k, np.ndarray) for k in key):
        return _advanced(t, key)
    out, dim = t, 0
    for k in key:
        if k is None:
            out = out.unsqueeze(dim)
            dim += 1
        elif isinstance(k, int):
            out = _select(out, dim, k)
        else:
            start, stop, step = _slice_bounds(k, out.shape[dim])
            if (start, stop, step) != (0, out.shape[dim], 1):
                lead = (slice(None),) * dim
                out = _run_op(
                    S.Slice(), (out,), (out.data,), key=lead + (slice(start, stop, step),)
                )
            dim += 1
    if out is t:
        if not t.ndim:
            return _run_op(S.View(), (t,), (t.data,), shape=())
        return _run_op(S.Slice(), (t,), (t.data,), key=(slice(None),))
    return out


def _select(t: Tensor, dim: int, index: int) -> Tensor:
    size = t.shape[dim]
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of bounds for dimension {dim} with size {size}")
    key = (slice(None),) * dim + (index % size,)
    return _run_op(S.Select(), (t,), (t.data,), key=key)


def _slice_bounds(k: slice, size: int) -> tuple[int, int, int]:
    if k.step is not None and k.step <= 0:
        raise ValueError("step must be greater than zero")
    start, stop, step = k.indices(size)
    return start, max(start, stop), step


def _advanced(t: Tensor, key: tuple[Any, ...]) -> Tensor:
    """Integer-array / mask indexing: one IndexBackward0 node; masks become index arrays."""
    expanded: list[Any] = []
    dim = 0
    for k in key:
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            if k.shape != t.shape[dim : dim + k.ndim]:
                raise IndexError(
                    f"The shape of the mask {list(k.shape)} at index {dim} does not match the "
                    f"shape of the indexed tensor {list(t.shape[dim : dim + k.ndim])} at index "
                    f"{dim}"
                )
            expanded.extend(np.nonzero(k))
            dim += k.ndim
            continue
        if isinstance(k, np.ndarray):
            size = t.shape[dim]
            if k.size and (k.max() >= size or k.min() < -size):
                bad = int(k.max()) if k.max() >= size else int(k.min())
                raise IndexError(
                    f"index {bad} is out of bounds for dimension {dim} with size {size}"
                )
        expanded.append(k)
        dim += k is not None
    return _run_op(S.Index(), (t,), (t.data,), key=tuple(expanded))


def setitem(t: Tensor, key: Any, value: Any) -> None:
    """``t[key] = value`` in place, for tensors outside a recorded graph."""
    from tapegrad.autograd.grad_mode import is_grad_enabled

    if is_grad_enabled() and t.requires_grad:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
            if t.grad_fn is None
            else "tapegrad does not record index assignment; build the tensor out of place "
            "(e.g. with tapegrad.where or tapegrad.cat), or assign under tapegrad.no_grad()."
        )
    key = _normalize_key(t, key)
    data = value.data if isinstance(value, Tensor) else value
    t.data[key] = data
    t._vc[0] += 1


__all__ = ["getitem", "setitem", "_wrap"]
