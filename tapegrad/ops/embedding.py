"""Embedding lookup: ``F.embedding`` (one ``EmbeddingBackward0`` node, as torch records it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.engine.grad_mode import no_grad
from tapegrad.ops.base import HoldingOp
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import Array, OpInfo, Sample, functional, normal
from tapegrad.promotion import _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bool": "Bool"}


class Embedding(HoldingOp):
    """``weight[indices]``; the backward adds each row's gradient into its weight row, except
    for ``padding_idx``'s (torch gives that row no gradient)."""

    __slots__ = ("positions", "rows", "wshape", "n", "scale")
    node_name = "EmbeddingBackward0"
    held = ("rows",)

    def forward(
        self, w: np.ndarray, indices: np.ndarray, padding_idx: int, scale_grad_by_freq: bool
    ) -> np.ndarray:
        flat = indices.reshape(-1)
        self.positions = np.flatnonzero(flat != padding_idx)
        self.rows, self.wshape, self.n = flat[self.positions], w.shape, flat.size
        self.scale = None
        if scale_grad_by_freq:  # each row's gradient divided by how often it was looked up
            counts = np.bincount(self.rows, minlength=w.shape[0])
            self.scale = (1 / counts[self.rows]).astype(w.dtype)[:, None]
        return w[indices]

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        picked = xp.index(xp.reshape(g, (self.n, self.wshape[1])), self.positions)
        if self.scale is not None:
            picked = xp.mul_const(picked, self.scale)
        return (xp.index_into_zeros(picked, self.wshape, (self.rows,), True),)


def _renorm_rows(weight: Tensor, indices: np.ndarray, max_norm: float, norm_type: float) -> None:
    """torch's ``embedding_renorm_``: rows looked up whose norm exceeds ``max_norm`` are
    scaled down to it, in place, outside the graph."""
    rows = np.unique(indices)
    data = weight._data.copy()
    norms = np.linalg.norm(data[rows], ord=norm_type, axis=1)
    over = norms > max_norm
    data[rows[over]] *= (max_norm / (norms[over] + 1e-7))[:, None].astype(data.dtype)
    with no_grad():
        weight.copy_(data)


def _check_indices(indices: Tensor, rows: int) -> np.ndarray:
    idx = indices._data
    if idx.dtype not in (np.int64, np.int32):
        name = _TYPE_NAMES.get(idx.dtype.name, idx.dtype.name.capitalize())
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got torch.{name}Tensor instead (while checking arguments "
            "for embedding)"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        raise IndexError("index out of range in self")
    return idx


def _embedding_samples(rng: np.random.Generator) -> list[Sample]:
    # padding_idx is tested on its own: its row is used forward but gets no gradient, so a
    # numerical gradcheck cannot agree (nor does torch's)
    return [
        Sample((normal(rng, (5, 3)),), "2-d indices", {"idx": np.array([[0, 2], [4, 2]])}),
        Sample((normal(rng, (4, 2)),), "vector", {"idx": np.array([3, 1, 1, 0])}),
        Sample((normal(rng, (4, 3)),), "0-d index", {"idx": np.array(2)}),
    ]


def _np_embedding(w: Array, idx: Array, padding_idx: Any = None) -> Array:
    return w[idx]


@declare(
    functional=True,
    tests=[
        OpInfo(
            "embedding",
            "EmbeddingBackward0",
            lambda ns, w, idx, **kw: functional(ns).embedding(
                ns.from_numpy(np.asarray(idx)), w, **kw
            ),
            _np_embedding,
            _embedding_samples,
        ),
    ],
)
def embedding(
    input: Tensor,  # noqa: A002 - torch's name
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """The rows of ``weight`` at the integer ``input`` indices: shape ``input.shape + (D,)``.

    ``padding_idx``'s row gets no gradient; ``max_norm`` renormalizes the rows looked up, in
    place, as torch does; ``scale_grad_by_freq`` divides each row's gradient by its count.
    """
    indices = _tensor_arg(input, "input", "embedding")
    weight = _tensor_arg(weight, "weight", "embedding")
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    rows = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= rows:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if padding_idx < -rows:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = rows + padding_idx
    idx = _check_indices(indices, rows).astype(np.int64, copy=False)
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    pad = -1 if padding_idx is None else padding_idx
    return _run_op(
        Embedding(),
        (weight,),
        (weight._data,),
        indices=idx,
        padding_idx=pad,
        scale_grad_by_freq=scale_grad_by_freq,
    )
