"""Shape ops: transpose, permute, reshape/view, flatten, squeeze/unsqueeze, expand, and
joining with cat and stack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._array import _shape_arg, normalize_dim, normalize_dims, shape_str
from tapegrad._dtypes import _join_dtype, _scalar_type_name
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.promotion import _as_tensor
from tapegrad.recording import _finish, _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class View(Op):
    """``view``/``reshape``/``flatten``; named UnsafeViewBackward0 when a copy was needed."""

    node_name = "ViewBackward0"
    is_view = True

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.in_shape = a.shape
        out = np.reshape(a, shape)
        if a.size and not np.may_share_memory(out, a):
            self.node_name = "UnsafeViewBackward0"
            self.is_view = False
        return out

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.reshape(g, self.in_shape),)


class Alias(View):
    """``x[...]``, ``x[:, :]``: a new tensor on the same data (torch's ``at::alias``)."""

    node_name = "AliasBackward0"


class Permute(Op):
    node_name = "PermuteBackward0"
    is_view = True

    def forward(self, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return a.transpose(axes)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.permute(g, self.inverse),)


class Transpose(Permute):
    node_name = "TransposeBackward0"


class T(Op):
    """``t()``: the transpose of a tensor with at most 2 dimensions (Linear's weight)."""

    __slots__ = ()
    node_name = "TBackward0"
    is_view = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.T

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g.T,)


class Squeeze(View):
    node_name = "SqueezeBackward0"


class SqueezeDim(View):
    node_name = "SqueezeBackward1"


class Unsqueeze(View):
    node_name = "UnsqueezeBackward0"


class Expand(Op):
    """A broadcast view; the engine sums the gradient back to the input's shape."""

    __slots__ = ()
    node_name = "ExpandBackward0"
    is_view = True

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(a, shape)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (g,)


class Cat(Op):
    node_name = "CatBackward0"

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.bounds = np.cumsum([0] + [a.shape[axis] for a in arrays]).tolist()
        return np.concatenate(arrays, axis=axis)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        lead = (slice(None),) * self.axis
        return tuple(
            xp.index(g, lead + (slice(lo, hi),)) if node is not None else None
            for (node, _), lo, hi in zip(self._edges, self.bounds, self.bounds[1:])
        )


class Stack(Op):
    node_name = "StackBackward0"

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        lead = (slice(None),) * self.axis
        return tuple(
            xp.index(g, lead + (i,)) if node is not None else None
            for i, (node, _) in enumerate(self._edges)
        )


# ------------------------------------------------- Tensor methods and functions


@declare(
    tests=[
        OpInfo(
            "t", "TBackward0", lambda ns, a: a.t(), np.transpose, fixed((((3, 4),), "matrix", {}))
        ),
    ]
)
def t(self) -> Tensor:
    """Transpose of a tensor with at most 2 dimensions."""
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    op = T()
    return _finish(op, (self,), (self._data,), op.forward(self._data))


@declare(
    tests=[
        OpInfo(
            "transpose",
            "TransposeBackward0",
            lambda ns, a, d0, d1: a.transpose(d0, d1),
            lambda a, d0, d1: np.swapaxes(a, d0, d1),
            fixed(
                (((2, 3, 4),), "dims 0,2", {"d0": 0, "d1": 2}),
                (((3, 4),), "dims -1,-2", {"d0": -1, "d1": -2}),
            ),
        ),
    ]
)
def transpose(self, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    d0, d1 = normalize_dim(dim0, self.ndim), normalize_dim(dim1, self.ndim)
    if not self.ndim:  # dims 0 and -1 are valid on a 0-d tensor: nothing to swap
        return _run_op(Transpose(), (self,), (self._data,), axes=())
    axes = list(range(self.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return _run_op(Transpose(), (self,), (self._data,), axes=tuple(axes))


@declare(
    tests=[
        OpInfo(
            "permute",
            "PermuteBackward0",
            lambda ns, a, dims: a.permute(*dims),
            lambda a, dims: np.transpose(a, dims),
            fixed((((2, 3, 4),), "2,0,1", {"dims": (2, 0, 1)})),
        ),
    ]
)
def permute(self, *dims: Any) -> Tensor:
    """Reorder the dimensions."""
    axes = tuple(normalize_dim(d, self.ndim) for d in _shape_arg(dims))
    if sorted(axes) != list(range(self.ndim)):
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match "
            "the length of the desired ordering of dimensions i.e. input.dim() = "
            f"{self.ndim} is not equal to len(dims) = {len(axes)}"
            if len(axes) != self.ndim
            else "permute(): duplicate dims are not allowed."
        )
    return _run_op(Permute(), (self,), (self._data,), axes=axes)


@declare(
    tests=[
        OpInfo(
            "reshape",
            "ViewBackward0",
            lambda ns, a, shape: a.reshape(shape),
            lambda a, shape: np.reshape(a, shape),
            fixed(
                (((3, 4),), "to 2x6", {"shape": (2, 6)}),
                (((3, 4),), "to -1", {"shape": (-1,)}),
                (((2, 3, 4),), "to 4,-1", {"shape": (4, -1)}),
            ),
        ),
    ]
)
def reshape(self, *shape: Any) -> Tensor:
    """Same data, new shape (a view when possible); one dimension may be -1."""
    return _run_op(View(), (self,), (self._data,), shape=_target_shape(self, shape))


@declare(
    function=False,
    tests=[
        OpInfo(
            "view",
            "ViewBackward0",
            lambda ns, a, shape: a.view(shape),
            lambda a, shape: np.reshape(a, shape),
            fixed((((3, 4),), "to 12", {"shape": (12,)})),
        ),
    ],
)
def view(self, *shape: Any) -> Tensor:
    """A view with a new shape; fails when the data would have to be copied."""
    target = _target_shape(self, shape)
    op = View()
    out = _run_op(op, (self,), (self._data,), shape=target)
    if op.node_name != "ViewBackward0":
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return out


def _target_shape(self, shape: Any) -> tuple[int, ...]:
    target = _shape_arg(shape)
    known = int(np.prod([s for s in target if s != -1]))
    bad = target.count(-1) > 1 or any(s < -1 for s in target)
    if not bad and -1 in target:
        bad = known == 0 or self._data.size % known != 0
    elif not bad:
        bad = known != self._data.size
    if bad:
        raise RuntimeError(
            f"shape '{shape_str(target)}' is invalid for input of size {self._data.size}"
        )
    return target


@declare(
    tests=[
        OpInfo(
            "flatten",
            "ViewBackward0",
            lambda ns, a: a.flatten(),
            np.ravel,
            fixed((((2, 3, 4),), "3-d", {})),
        ),
    ]
)
def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` into one."""
    if self.ndim <= 1:
        return self if self.ndim == 1 else self.reshape(1)
    lo, hi = normalize_dim(start_dim, self.ndim), normalize_dim(end_dim, self.ndim)
    if lo > hi:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if lo == hi:
        return self
    merged = int(np.prod(self.shape[lo : hi + 1]))
    return self.reshape(self.shape[:lo] + (merged,) + self.shape[hi + 1 :])


@declare(
    tests=[
        OpInfo(
            "squeeze",
            "SqueezeBackward0",
            lambda ns, a: a.squeeze(),
            np.squeeze,
            fixed((((3, 1, 4, 1),), "two size-1 dims", {})),
        ),
        OpInfo(
            "squeeze_dim",
            "SqueezeBackward1",
            lambda ns, a, dim: a.squeeze(dim),
            lambda a, dim: np.squeeze(a, dim),
            fixed((((3, 1, 4),), "dim=1", {"dim": 1})),
        ),
    ]
)
def squeeze(self, dim: Any = None) -> Tensor:
    """Remove dimensions of size 1 (all, or the given one)."""
    if dim is None:
        shape = tuple(s for s in self.shape if s != 1)
        return _run_op(Squeeze(), (self,), (self._data,), shape=shape)
    axes = normalize_dims(dim, self.ndim)
    shape = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
    return _run_op(SqueezeDim(), (self,), (self._data,), shape=shape)


@declare(
    tests=[
        OpInfo(
            "unsqueeze",
            "UnsqueezeBackward0",
            lambda ns, a, dim: a.unsqueeze(dim),
            lambda a, dim: np.expand_dims(a, dim),
            fixed((((3, 4),), "dim=1", {"dim": 1}), (((3, 4),), "dim=-1", {"dim": -1})),
        ),
    ]
)
def unsqueeze(self, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim``."""
    axis = normalize_dim(dim, self.ndim + 1)
    shape = self.shape[:axis] + (1,) + self.shape[axis:]
    return _run_op(Unsqueeze(), (self,), (self._data,), shape=shape)


@declare(
    function=False,
    tests=[
        OpInfo(
            "expand",
            "ExpandBackward0",
            lambda ns, a, shape: a.expand(*shape),
            lambda a, shape: np.broadcast_to(
                a, [s if s != -1 else a.shape[i - len(shape) + a.ndim] for i, s in enumerate(shape)]
            ),
            fixed(
                (((3, 1),), "3x1 to 3x4", {"shape": (3, 4)}),
                (((1, 4),), "new leading dim", {"shape": (2, 3, 4)}),
                (((3, 1),), "-1 keeps", {"shape": (-1, 5)}),
            ),
        ),
    ],
)
def expand(self, *sizes: Any) -> Tensor:
    """Broadcast to a larger shape without copying; -1 keeps a dimension."""
    target = list(_shape_arg(sizes))
    lead = len(target) - self.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand(tapegrad.{_scalar_type_name(self._data.dtype)}Tensor"
            f"{{{shape_str(self.shape)}}}, "
            f"size={shape_str(tuple(target))}): the number of sizes provided "
            f"({len(target)}) must be greater or equal to the number of dimensions in the "
            f"tensor ({self.ndim})"
        )
    for i, want in enumerate(target[:lead]):
        if want < 0:
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) isn't allowed in a leading, "
                f"non-existing dimension {i}"
            )
    for i in reversed(range(self.ndim)):  # torch checks from the last dimension
        s, want = self.shape[i], target[lead + i]
        if want == -1:
            target[lead + i] = s
        elif s != 1 and s != want:
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size "
                f"({s}) at non-singleton dimension {lead + i}.  Target sizes: "
                f"{shape_str(tuple(target))}.  Tensor sizes: {shape_str(self.shape)}"
            )
    return _run_op(Expand(), (self,), (self._data,), shape=tuple(target))


@declare(function=False)
def expand_as(self, other: Tensor) -> Tensor:
    """Expand to ``other``'s shape."""
    return self.expand(other.shape)


@declare(
    method=False,
    tests=[
        OpInfo(
            "cat",
            "CatBackward0",
            lambda ns, a, b, dim: ns.cat([a, b], dim),
            lambda a, b, dim: np.concatenate([a, b], dim),
            fixed((((2, 3), (4, 3)), "dim=0", {"dim": 0}), (((2, 3), (2, 1)), "dim=1", {"dim": 1})),
        ),
    ],
)
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    parts = _join_inputs(tensors, "cat")
    for i, p in enumerate(parts):
        if not p.ndim:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    axis = normalize_dim(dim, parts[0].ndim)
    for i, p in enumerate(parts):
        if p.ndim != parts[0].ndim or any(
            a != b for j, (a, b) in enumerate(zip(p.shape, parts[0].shape)) if j != axis
        ):
            if p.ndim != parts[0].ndim:
                raise RuntimeError(
                    f"Tensors must have same number of dimensions: got {parts[0].ndim} and {p.ndim}"
                )
            dim = next(
                j for j, (a, b) in enumerate(zip(p.shape, parts[0].shape)) if a != b and j != axis
            )
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {axis}. Expected size "
                f"{parts[0].shape[dim]} but got size {p.shape[dim]} for tensor number {i} "
                "in the list."
            )
    return _run_op(Cat(), parts, _promoted_arrays(parts), axis=axis)


@declare(
    method=False,
    tests=[
        OpInfo(
            "stack",
            "StackBackward0",
            lambda ns, a, b, dim: ns.stack([a, b], dim),
            lambda a, b, dim: np.stack([a, b], dim),
            fixed(
                (((2, 3), (2, 3)), "dim=0", {"dim": 0}), (((2, 3), (2, 3)), "dim=-1", {"dim": -1})
            ),
        ),
    ],
)
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join along a new dimension."""
    parts = _join_inputs(tensors, "stack")
    axis = normalize_dim(dim, parts[0].ndim + 1)
    for i, p in enumerate(parts):
        if p.shape != parts[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(parts[0].shape)} at "
                f"entry 0 and {list(p.shape)} at entry {i}"
            )
    return _run_op(Stack(), parts, _promoted_arrays(parts), axis=axis)


def _join_inputs(tensors: Sequence[Tensor], name: str) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(
            f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"
        )
    if not len(tensors):
        if name == "stack":  # torch words the two differently
            raise RuntimeError("stack expects a non-empty TensorList")
        raise ValueError(f"tapegrad.{name}(): expected a non-empty list of Tensors")
    return [_as_tensor(x) for x in tensors]


def _promoted_arrays(parts: Sequence[Tensor]) -> list[np.ndarray]:
    """The parts' arrays in their common dtype (no cast recorded, as torch: see _binary)."""
    target = _join_dtype([p._data.dtype for p in parts])
    return [p._data.astype(target, copy=False) for p in parts]
