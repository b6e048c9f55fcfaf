"""Rearranging elements: flip, roll, repeat, tile, repeat_interleave, unflatten, movedim and
swapaxes (narrow, split, chunk, unbind and unfold are in ``splitting``)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._array import _shape_arg, normalize_dim, shape_str
from tapegrad._dtypes import _scalar_type_name
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.indexing import Index
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.ops.shape import Alias
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

# -------------------------------------------------------------------------- ops


class Flip(Op):
    node_name = "FlipBackward0"

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return np.flip(a, axes).copy()  # torch's flip copies; np.flip is a view

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.flip(g, self.axes),)


class Roll(Op):
    node_name = "RollBackward0"

    def forward(self, a: np.ndarray, shifts: Any, axes: Any) -> np.ndarray:
        self.shifts, self.axes = shifts, axes
        return np.roll(a, shifts, axes)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        back = tuple(-s for s in self.shifts) if self.axes is not None else -self.shifts
        return (xp.roll(g, back, self.axes),)


class Repeat(Op):
    """``repeat``/``tile``: the gradient sums the copies back onto the input."""

    node_name = "RepeatBackward0"

    def forward(self, a: np.ndarray, reps: tuple[int, ...]) -> np.ndarray:
        self.in_shape, self.reps = a.shape, reps
        self.padded = (1,) * (len(reps) - a.ndim) + a.shape
        return np.tile(a.reshape(self.padded), reps)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        split = tuple(x for pair in zip(self.reps, self.padded) for x in pair)
        axes = tuple(range(0, len(split), 2))
        g = xp.sum(xp.reshape(g, split), axes, False)
        return (xp.reshape(g, self.in_shape),)


class IndexSelect(Index):
    """``repeat_interleave`` with a tensor of repeats (torch's ``index_select``)."""

    node_name = "IndexSelectBackward0"


# ------------------------------------------------------------ flip, roll, repeat


@declare(
    tests=[
        OpInfo(
            "flip",
            "FlipBackward0",
            lambda ns, a, dims: a.flip(dims),
            lambda a, dims: np.flip(a, dims if a.ndim else ()),
            fixed(
                (((3, 4),), "dim 0", {"dims": (0,)}),
                (((2, 3, 4),), "dims 0,-1", {"dims": (0, -1)}),
                (((),), "0-d", {"dims": (0,)}),
                (((3, 1),), "size-1 dim", {"dims": (1,)}),
            ),
        ),
    ]
)
def flip(self, *args: Any, dims: Any = None) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, as torch)."""
    dims = _sizes_arg(args, dims, "flip", "dims")
    axes = _unique_dims(_shape_arg(dims), self.ndim)
    return _run_op(Flip(), (self,), (self._data,), axes=axes if self.ndim else ())


def _sizes_arg(args: tuple[Any, ...], keyword: Any, name: str, arg: str) -> tuple[Any, ...]:
    """Sizes given as ``f(2, 3)``, ``f((2, 3))`` or ``f(arg=(2, 3))``, as torch's methods."""
    if args and keyword is not None:
        raise TypeError(f"{name}() got multiple values for argument '{arg}'")
    if keyword is not None:
        return (keyword,)
    if not args:
        raise TypeError(f'{name}() missing 1 required positional arguments: "{arg}"')
    return args


def _unique_dims(dims: Sequence[int], ndim: int) -> tuple[int, ...]:
    axes = tuple(normalize_dim(d, ndim) for d in dims)
    for i, d in enumerate(axes):
        if d in axes[:i]:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return axes


@declare(
    tests=[
        OpInfo(
            "roll",
            "RollBackward0",
            lambda ns, a, **kw: a.roll(**kw),
            lambda a, shifts, dims=None: np.roll(a, shifts, dims),
            fixed(
                (((3, 4),), "flattened", {"shifts": 5}),
                (((3, 4),), "dim 1", {"shifts": 1, "dims": 1}),
                (((2, 3, 4),), "two dims", {"shifts": (-1, 2), "dims": (0, -1)}),
                (((),), "0-d", {"shifts": 3}),
            ),
        ),
    ]
)
def roll(self, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements circularly along ``dims`` (over the flattened tensor without dims)."""
    shift_list = _int_list(shifts)
    dim_list = () if dims is None else _int_list(dims)
    if not shift_list:
        raise RuntimeError("`shifts` required")
    if not dim_list and len(shift_list) == 1:
        return _run_op(Roll(), (self,), (self._data,), shifts=shift_list[0], axes=None)
    if len(shift_list) != len(dim_list):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shift_list)}, dims:{len(dim_list)}"
        )
    if not self.ndim:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    axes = tuple(normalize_dim(d, self.ndim) for d in dim_list)
    return _run_op(Roll(), (self,), (self._data,), shifts=shift_list, axes=axes)


def _int_list(value: Any) -> tuple[int, ...]:
    if isinstance(value, Sequence):
        return tuple(operator.index(v) for v in value)
    return (operator.index(value),)


@declare(
    function=False,
    tests=[
        OpInfo(
            "repeat",
            "RepeatBackward0",
            lambda ns, a, reps: a.repeat(*reps),
            lambda a, reps: np.tile(a, reps),
            fixed(
                (((3, 4),), "2,3", {"reps": (2, 3)}),
                (((3, 4),), "new leading dim", {"reps": (2, 1, 2)}),
                (((),), "0-d", {"reps": (3,)}),
                (((3, 1),), "size-1 dim", {"reps": (1, 4)}),
            ),
        ),
    ],
)
def repeat(self, *args: Any, repeats: Any = None) -> Tensor:
    """Tile the tensor ``repeats[i]`` times along each dimension."""
    repeats = _sizes_arg(args, repeats, "repeat", "repeats")
    reps = _shape_arg(repeats)
    if len(reps) < self.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    padded = (1,) * (len(reps) - self.ndim) + self.shape
    target = tuple(r * s for r, s in zip(reps, padded))
    for d in target:
        if d < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {d}: {shape_str(target)}"
            )
    return _run_op(Repeat(), (self,), (self._data,), reps=reps)


@declare(
    tests=[
        OpInfo(
            "tile",
            "RepeatBackward0",
            lambda ns, a, dims: ns.tile(a, dims),
            lambda a, dims: np.tile(a, dims),
            fixed(
                (((3, 4),), "fewer dims", {"dims": (2,)}),
                (((3, 4),), "more dims", {"dims": (2, 1, 2)}),
            ),
        ),
    ]
)
def tile(self, *args: Any, dims: Any = None) -> Tensor:
    """``repeat``, with missing leading repeats taken as 1 (numpy's ``tile``)."""
    reps = _shape_arg(_sizes_arg(args, dims, "tile", "dims"))
    return self.repeat((1,) * (self.ndim - len(reps)) + reps)


# -------------------------------------------------------------- repeat_interleave


@declare(
    tests=[
        OpInfo(
            "repeat_interleave",
            "ViewBackward0",
            lambda ns, a, **kw: a.repeat_interleave(**kw),
            lambda a, repeats, dim=None: np.repeat(a, repeats, dim),
            fixed(
                (((3, 4),), "flattened", {"repeats": 2}),
                (((3, 4),), "dim 0", {"repeats": 2, "dim": 0}),
                (((2, 3, 4),), "dim -1", {"repeats": 3, "dim": -1}),
                (((),), "0-d", {"repeats": 2}),
            ),
        ),
        OpInfo(
            "repeat_interleave_tensor",
            "IndexSelectBackward0",
            lambda ns, a, repeats, dim: a.repeat_interleave(ns.tensor(repeats.tolist()), dim),
            lambda a, repeats, dim: np.repeat(a, repeats, dim),
            fixed(
                (((3, 4),), "dim 0", {"repeats": np.array([1, 0, 2]), "dim": 0}),
                (((3, 4),), "dim -1", {"repeats": np.array([2, 1, 1, 3]), "dim": -1}),
                (((3, 4),), "one repeat count", {"repeats": np.array([2]), "dim": 1}),
            ),
        ),
    ]
)
def repeat_interleave(
    self, repeats: Any = None, dim: int | None = None, *, output_size: int | None = None
) -> Tensor:
    """Repeat each element ``repeats`` times (an int, or a tensor of counts) along ``dim``.

    ``tapegrad.repeat_interleave(counts)`` alone gives ``arange(len(counts))`` repeated.
    """
    if repeats is None:
        return _indices_from_counts(self, output_size)
    if not isinstance(repeats, Tensor):
        count = operator.index(repeats)
        if count < 0:
            raise RuntimeError("Repeats must be non-negative")
        source = self.flatten() if dim is None else self
        axis = normalize_dim(0 if dim is None else dim, source.ndim)
        if output_size is not None and output_size != count * source.shape[axis]:
            raise RuntimeError(
                "repeat_interleave: Invalid output_size, expected "
                f"{count * source.shape[axis]} but got {output_size}"
            )
        expanded = source.unsqueeze(axis + 1)
        shape = list(expanded.shape)
        shape[axis + 1] = count
        return expanded.expand(shape).clone().flatten(axis, axis + 1)
    source = self.flatten() if dim is None else self
    axis = normalize_dim(0 if dim is None else dim, source.ndim)
    counts = _counts(repeats, source.shape[axis])
    _check_output_size(counts, output_size)
    index = np.repeat(np.arange(source.shape[axis]), counts)
    key = (slice(None),) * axis + (index,)
    return _run_op(IndexSelect(), (source,), (source._data,), key=key)


def _counts(repeats: Tensor, size: int) -> np.ndarray:
    """The repeat counts as an int64 array of length ``size``, checked as torch checks them."""
    data = repeats._data
    if data.ndim > 1:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    if data.dtype.kind not in "iu":
        raise NotImplementedError(
            f"\"repeat_interleave_cpu\" not implemented for '{_scalar_type_name(data.dtype)}'"
        )
    if data.ndim == 0 or data.shape[0] == 1:
        data = np.broadcast_to(data.reshape(()), (size,))
    elif data.shape[0] != size:
        raise RuntimeError(
            "repeats must have the same size as input along dim, but got repeats.size(0) = "
            f"{data.shape[0]} and input.size(0) = {size}"
        )
    if (data < 0).any():
        raise RuntimeError("repeats can not be negative")
    return data.astype(np.int64)


def _check_output_size(counts: np.ndarray, output_size: int | None) -> None:
    if output_size is not None and output_size != counts.sum():
        raise RuntimeError("allocated size does not match required size")


def _indices_from_counts(counts: Tensor, output_size: int | None) -> Tensor:
    """``repeat_interleave(counts)``: each index ``i`` repeated ``counts[i]`` times."""
    data = counts._data
    if data.ndim != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    checked = _counts(_wrap(data), data.shape[0])
    _check_output_size(checked, output_size)
    return _wrap(np.repeat(np.arange(data.shape[0], dtype=np.int64), checked))


# ----------------------------------------------------------------------- unflatten


_UNEXPECTED = "unflatten got an unexpected error:\n"


@declare(
    tests=[
        OpInfo(
            "unflatten",
            "ViewBackward0",
            lambda ns, a, dim, sizes: a.unflatten(dim, sizes),
            lambda a, dim, sizes: a.reshape(
                a.shape[: dim % a.ndim] + tuple(sizes) + a.shape[dim % a.ndim + 1 :]
            ),
            fixed(
                (((3, 4),), "dim 1", {"dim": 1, "sizes": (2, 2)}),
                (((6, 4),), "dim 0 with -1", {"dim": 0, "sizes": (-1, 3)}),
            ),
        ),
    ]
)
def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dimension ``dim`` into ``sizes`` (one of them may be -1)."""
    axis = normalize_dim(dim, self.ndim)
    sizes = tuple(operator.index(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if not self.ndim:
        raise RuntimeError(_UNEXPECTED + "Dimension specified as 0 but tensor has no dimensions")
    size = self.shape[axis]
    known, inferred = 1, None
    for i, s in enumerate(sizes):
        if s == -1:
            if inferred is not None:
                raise RuntimeError(_UNEXPECTED + "only one dimension can be inferred")
            inferred = i
        elif s < 0:
            raise RuntimeError(
                _UNEXPECTED
                + f"invalid shape dimension {s} at index {i} of shape {shape_str(sizes)}"
            )
        else:
            known *= s
    fits = size == known if inferred is None else known > 0 and size % known == 0
    if not fits:
        raise RuntimeError(
            f"unflatten: Provided sizes {shape_str(sizes)} don't multiply up to the size of dim "
            f"{axis} ({size}) in the input tensor"
        )
    if inferred is not None:
        sizes = sizes[:inferred] + (size // known,) + sizes[inferred + 1 :]
    return self.reshape(self.shape[:axis] + sizes + self.shape[axis + 1 :])


# ------------------------------------------------------------ movedim, swapaxes


@declare(
    aliases=("moveaxis",),
    tests=[
        OpInfo(
            "movedim",
            "PermuteBackward0",
            lambda ns, a, source, destination: ns.movedim(a, source, destination),
            lambda a, source, destination: np.moveaxis(a, source, destination),
            fixed(
                (((2, 3, 4),), "0 to -1", {"source": 0, "destination": -1}),
                (((2, 3, 4),), "two dims", {"source": (0, 1), "destination": (2, 0)}),
            ),
        ),
    ],
)
def movedim(self, source: Any, destination: Any) -> Tensor:
    """Move the dimensions ``source`` to the positions ``destination``."""
    if isinstance(source, int) != isinstance(destination, int):
        kinds = tuple(
            "int" if isinstance(v, int) else type(v).__name__ for v in (source, destination)
        )
        raise TypeError(
            f"movedim() received an invalid combination of arguments - got ({kinds[0]}, "
            f"{kinds[1]}), but expected one of:\n * (int source, int destination)\n"
            " * (tuple of ints source, tuple of ints destination)\n"
        )
    src, dst = _int_list(source), _int_list(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    nsrc = [normalize_dim(d, self.ndim) for d in src]
    ndst = [normalize_dim(d, self.ndim) for d in dst]
    for name, given, dims in (("source", src, nsrc), ("destination", dst, ndst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    if not self.ndim:
        return _run_op(Alias(), (self,), (self._data,), shape=())
    order = [-1] * self.ndim
    for s, d in zip(nsrc, ndst):
        order[d] = s
    rest = iter(d for d in range(self.ndim) if d not in nsrc)
    order = [next(rest) if o == -1 else o for o in order]
    return self.permute(order)


@declare(method=False, name="moveaxis")
def moveaxis_function(input: Tensor, source: Any, destination: Any) -> Tensor:  # noqa: A002
    """Alias of ``movedim``."""
    return input.movedim(source, destination)


@declare(
    tests=[
        OpInfo(
            "swapaxes",
            "TransposeBackward0",
            lambda ns, a, d0, d1: a.swapaxes(d0, d1),
            lambda a, d0, d1: np.swapaxes(a, d0, d1),
            fixed((((2, 3, 4),), "0,-1", {"d0": 0, "d1": -1})),
        ),
    ],
)
def swapaxes(self, axis0: int, axis1: int) -> Tensor:
    """Alias of ``transpose``."""
    return self.transpose(axis0, axis1)


@declare()
def swapdims(self, dim0: int, dim1: int) -> Tensor:
    """Alias of ``transpose``."""
    return self.transpose(dim0, dim1)
