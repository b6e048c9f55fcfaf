"""Sliding windows on numpy arrays: the kernels convolution and pooling are made of.

A window geometry (``Geometry``) fixes, per spatial dimension, the kernel size, stride,
dilation and the padding before and after. ``windows`` gives every window of a padded input at
once as a strided view (no copy); ``spread`` is its adjoint: it adds per-window values back
into the input, looping over the kernel offsets only (never over output positions).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided


@dataclass(frozen=True)
class Geometry:
    """Where the windows of an input of spatial size ``size`` lie."""

    size: tuple[int, ...]  # the (unpadded) input's spatial size
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]  # (before, after) per dimension
    out: tuple[int, ...]  # output spatial size
    groups: int = 1

    @property
    def padded(self) -> tuple[int, ...]:
        """The padded input's spatial size, extended so the last window fits."""
        return tuple(
            max(n + lo + hi, (o - 1) * s + (k - 1) * d + 1)
            for n, (lo, hi), o, s, k, d in zip(
                self.size, self.pad, self.out, self.stride, self.kernel, self.dilation
            )
        )

    def offsets(self) -> list[tuple[int, ...]]:
        """Every kernel offset, in row-major order."""
        return list(itertools.product(*(range(k) for k in self.kernel)))

    def window_slices(self, offset: tuple[int, ...]) -> tuple[slice, ...]:
        """The positions of the padded input that kernel ``offset`` reads, one per output."""
        return tuple(
            slice(i * d, i * d + (o - 1) * s + 1, s)
            for i, d, o, s in zip(offset, self.dilation, self.out, self.stride)
        )

    def interior(self) -> tuple[slice, ...]:
        """The unpadded input inside the padded one."""
        return tuple(slice(lo, lo + n) for n, (lo, _) in zip(self.size, self.pad))


def out_size(n: int, k: int, s: int, d: int, lo: int, hi: int, ceil: bool = False) -> int:
    """Output length along one dimension (torch's formula, ``ceil_mode`` included)."""
    span = n + lo + hi - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    o = -(-span // s) + 1
    # torch: the last window must start inside the input or its left padding
    return o - 1 if (o - 1) * s >= n + lo else o


def padded(a: np.ndarray, geom: Geometry, fill: float = 0.0) -> np.ndarray:
    """``a`` (N, C, *size) in a ``fill``-padded array of the padded size (or ``a`` itself)."""
    full = geom.padded
    if full == a.shape[2:]:
        return a
    out = np.full(a.shape[:2] + full, fill, a.dtype)
    out[(slice(None), slice(None), *geom.interior())] = a
    return out


def windows(a: np.ndarray, geom: Geometry) -> np.ndarray:
    """A read-only view (N, C, *kernel, *out) of every window of the padded ``a``."""
    n, c = a.shape[:2]
    st = a.strides[2:]
    shape = (n, c, *geom.kernel, *geom.out)
    strides = (
        *a.strides[:2],
        *(s * d for s, d in zip(st, geom.dilation)),
        *(s * k for s, k in zip(st, geom.stride)),
    )
    return as_strided(a, shape, strides, writeable=False)


def unfold(a: np.ndarray, geom: Geometry) -> np.ndarray:
    """A contiguous copy (N, C, *kernel, *out) of ``windows(a)``: one strided copy per kernel
    offset, faster than numpy's copy of the 6-d view."""
    out = np.empty(a.shape[:2] + geom.kernel + geom.out, a.dtype)
    lead = (slice(None), slice(None))
    for offset in geom.offsets():
        out[(*lead, *offset)] = a[(*lead, *geom.window_slices(offset))]
    return out


def spread(cols: np.ndarray, geom: Geometry) -> np.ndarray:
    """The adjoint of ``windows``: add ``cols`` (N, C, *kernel, *out) into the input positions
    each window reads, and return the unpadded (N, C, *size) sum."""
    n, c = cols.shape[:2]
    out = np.zeros((n, c, *geom.padded), cols.dtype)
    lead = (slice(None), slice(None))
    for offset in geom.offsets():
        out[(*lead, *geom.window_slices(offset))] += cols[(*lead, *offset)]
    return np.ascontiguousarray(out[(*lead, *geom.interior())])


def spread_each(g: np.ndarray, geom: Geometry) -> np.ndarray:
    """``spread`` of the same (N, C, *out) value for every kernel offset."""
    n, c = g.shape[:2]
    out = np.zeros((n, c, *geom.padded), g.dtype)
    lead = (slice(None), slice(None))
    for offset in geom.offsets():
        out[(*lead, *geom.window_slices(offset))] += g
    return np.ascontiguousarray(out[(*lead, *geom.interior())])


def as_tuple(value: Any, k: int, name: str = "") -> tuple[int, ...]:
    """An int or a sequence of ints as a ``k``-tuple (torch's ``_pair``/``_single``)."""
    if isinstance(value, int | np.integer):
        return (int(value),) * k
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * k
    if len(value) != k:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {k} values")
    return value


# ------------------------------------------------------------- stride 1: flat windows
# With stride 1, the windows at one kernel offset are one contiguous run of the flattened
# padded input if each output row is computed over the full padded width (the extra columns
# are dropped after the GEMM): copies of long runs instead of many 14-float pieces, 3-5x
# faster. ``Lf`` below is that run's length: out[0] * prod(padded[1:]).


def flat_length(geom: Geometry) -> int:
    """Length of one offset's run: the outputs over the full padded trailing dims."""
    return geom.out[0] * math.prod(geom.padded[1:])


def _flat_offsets(geom: Geometry) -> list[int]:
    full = geom.padded
    steps = [math.prod(full[i + 1 :]) * d for i, d in enumerate(geom.dilation)]
    return [sum(o * s for o, s in zip(offset, steps)) for offset in geom.offsets()]


def _flat_buffer(n: int, c: int, geom: Geometry, dtype: np.dtype) -> np.ndarray:
    """Zeros (N, C, size) holding the flattened padded input, with room for the last run."""
    size = max(math.prod(geom.padded), _flat_offsets(geom)[-1] + flat_length(geom))
    return np.zeros((n, c, size), dtype)


def _interior_of(buf: np.ndarray, geom: Geometry) -> np.ndarray:
    full = geom.padded
    grid = buf[:, :, : math.prod(full)].reshape(*buf.shape[:2], *full)
    return grid[(slice(None), slice(None), *geom.interior())]


def unfold_flat(a: np.ndarray, geom: Geometry) -> np.ndarray:
    """(N, groups, prod(kernel), C/groups, Lf): for each kernel offset, its run of the padded
    input (offset-major, so each copy moves C/groups * Lf contiguous values)."""
    n, c = a.shape[:2]
    g = geom.groups
    buf = _flat_buffer(n, c, geom, a.dtype)
    _interior_of(buf, geom)[...] = a
    runs = buf.reshape(n, g, c // g, -1)
    length = flat_length(geom)
    out = np.empty((n, g, len(geom.offsets()), c // g, length), a.dtype)
    for k, off in enumerate(_flat_offsets(geom)):
        out[:, :, k] = runs[..., off : off + length]
    return out


def spread_flat(cols: np.ndarray, geom: Geometry) -> np.ndarray:
    """The adjoint of ``unfold_flat``: (N, groups, prod(kernel), C/groups, Lf) to
    (N, C, *size)."""
    n, g, _, cg = cols.shape[:4]
    buf = _flat_buffer(n, g * cg, geom, cols.dtype)
    runs = buf.reshape(n, g, cg, -1)
    length = flat_length(geom)
    for k, off in enumerate(_flat_offsets(geom)):
        runs[..., off : off + length] += cols[:, :, k]
    return np.ascontiguousarray(_interior_of(buf, geom))


def to_full_rows(g: np.ndarray, geom: Geometry) -> np.ndarray:
    """(N, C, *out) as (N, C, Lf): each output row widened to the padded width with zeros."""
    n, c = g.shape[:2]
    rows = (n, c, geom.out[0], *geom.padded[1:])
    if rows[2:] == g.shape[2:]:
        return g.reshape(n, c, -1)
    out = np.zeros(rows, g.dtype)
    out[(slice(None),) * 3 + tuple(slice(0, o) for o in geom.out[1:])] = g
    return out.reshape(n, c, -1)


def from_full_rows(r: np.ndarray, geom: Geometry) -> np.ndarray:
    """(N, C, Lf) back to (N, C, *out), dropping the extra columns."""
    grid = r.reshape(*r.shape[:2], geom.out[0], *geom.padded[1:])
    if grid.shape[2:] == geom.out:
        return grid
    return np.ascontiguousarray(grid[(slice(None),) * 3 + tuple(slice(0, o) for o in geom.out[1:])])
