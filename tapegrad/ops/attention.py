"""Attention: ``F.scaled_dot_product_attention``.

As in torch on the CPU: 4-d inputs without dropout (and with value's head size equal to the
query's) run as one fused node, ``ScaledDotProductFlashAttentionForCpuBackward0``; everything
else is composed of matmul, masking and softmax as torch's math implementation is (its result's
node is matmul's: ``UnsafeViewBackward0``, ``MmBackward0`` for 2-d inputs).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad.ops.base import ARRAY_NS, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.dropout import dropout
from tapegrad.ops.samples import Array, OpInfo, Sample, functional, normal
from tapegrad.promotion import _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor, _wrap

_SWAP = (0, 1, 3, 2)  # the last two axes of a 4-d array


class FlashAttention(Op):
    """``softmax(q @ k.T * scale + mask) @ v`` on 4-d inputs as one node. ``mask`` is an
    additive constant (0 / -inf for bool masks); rows masked entirely give zeros. The backward
    recomputes the weights from the saved inputs with ``xp``, so it can itself be recorded."""

    __slots__ = ("scale", "mask", "shift", "alive")
    node_name = "ScaledDotProductFlashAttentionForCpuBackward0"
    saves = (0, 1, 2)

    def forward(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, mask: Any
    ) -> np.ndarray:
        scores = q @ np.transpose(k, _SWAP) * scale
        if mask is not None:
            scores = scores + mask
        peak = scores.max(axis=-1, keepdims=True)
        dead = np.isneginf(peak)
        self.alive = None if not dead.any() else (~dead).astype(scores.dtype)
        if self.alive is not None:  # no NaN from a row of -inf: its scores become 0
            mask = np.where(dead, 0, np.broadcast_to(mask, scores.shape)).astype(scores.dtype)
            scores = q @ np.transpose(k, _SWAP) * scale + mask
            peak = scores.max(axis=-1, keepdims=True)
        self.scale, self.mask, self.shift = scale, mask, peak
        return self._weights(ARRAY_NS, scores) @ v

    def _weights(self, xp: Any, scores: Any) -> Any:
        e = xp.exp(scores - self.shift)
        p = e / xp.sum(e, (3,))
        return p if self.alive is None else p * self.alive

    def backward(self, xp: Any, g: Any, q: Any, k: Any, v: Any) -> tuple[Any, ...]:
        scores = xp.matmul(q, xp.permute(k, _SWAP)) * self.scale
        if self.mask is not None:
            scores = scores + self.mask
        p = self._weights(xp, scores)
        dv = xp.matmul(xp.permute(p, _SWAP), g)
        dp = xp.matmul(g, xp.permute(v, _SWAP))
        ds = p * (dp - xp.sum(dp * p, (3,)))
        dq = xp.matmul(ds, k) * self.scale
        dk = xp.matmul(xp.permute(ds, _SWAP), q) * self.scale
        return dq, dk, dv


def _additive_mask(
    attn_mask: Tensor | None, is_causal: bool, shape: tuple[int, int], dtype: np.dtype
) -> np.ndarray | None:
    """The mask as a constant added to the scores: 0 where attended, -inf elsewhere."""
    if is_causal:
        return np.where(np.tril(np.ones(shape, dtype=bool)), 0, -np.inf).astype(dtype)
    if attn_mask is None:
        return None
    if attn_mask._data.dtype == np.bool_:
        return np.where(attn_mask._data, 0, -np.inf).astype(dtype)
    return attn_mask._data.astype(dtype)


def _scores(query: Tensor, key: Tensor, scale: float | None) -> Tensor:
    factor = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    return query.matmul(key.transpose(-2, -1)) * factor


def _masked(scores: Tensor, attn_mask: Tensor | None, is_causal: bool) -> Tensor:
    """Scores with masked-out positions at -inf (bool masks: True takes part) or the float
    mask added."""
    if is_causal:
        length, source = scores.shape[-2], scores.shape[-1]
        keep = np.tril(np.ones((length, source), dtype=bool))
        scores = scores.masked_fill(_wrap(~keep), -math.inf)
    if attn_mask is None:
        return scores
    if attn_mask._data.dtype == np.bool_:
        return scores.masked_fill(_wrap(~attn_mask._data), -math.inf)
    return scores + attn_mask


def _safe_softmax(scores: Tensor) -> Tensor:
    """Softmax over the last dim; a row masked entirely gives zeros (torch's _safe_softmax),
    not NaN, and no NaN gradient."""
    dead = np.isneginf(scores._data).all(axis=-1, keepdims=True)
    if not dead.any():
        return scores.softmax(-1)
    dead_full = _wrap(np.broadcast_to(dead, scores.shape))
    return scores.masked_fill(dead_full, 0.0).softmax(-1).masked_fill(dead_full, 0.0)


def _expand_heads(t: Tensor, heads: int) -> Tensor:
    """Grouped-query attention: repeat each key/value head for its group of query heads."""
    if t.ndim < 3 or t.shape[-3] == heads:
        return t
    if heads % t.shape[-3]:
        raise RuntimeError(
            "Number of heads in key and value must divide the number of heads in query"
        )
    return t.repeat_interleave(heads // t.shape[-3], -3)


def _sdpa_samples(rng: np.random.Generator) -> list[Sample]:
    q, k, v = ((2, 3, 4), (2, 5, 4), (2, 5, 3))
    bool_mask = rng.uniform(size=(3, 5)) > 0.3
    bool_mask[:, 0] = True
    return [
        Sample((normal(rng, q), normal(rng, k), normal(rng, v)), "plain"),
        Sample((normal(rng, q), normal(rng, q), normal(rng, q)), "causal", {"is_causal": True}),
        Sample(
            (normal(rng, q), normal(rng, k), normal(rng, v)), "bool mask", {"attn_mask": bool_mask}
        ),
        Sample(
            (normal(rng, q), normal(rng, k), normal(rng, v)),
            "float mask, scale",
            {"attn_mask": normal(rng, (3, 5)), "scale": 0.3},
        ),
        Sample((normal(rng, (3, 4)), normal(rng, (5, 4)), normal(rng, (5, 2))), "2-d"),
        Sample(
            (normal(rng, (1, 2, 3, 4)), normal(rng, (1, 2, 5, 4)), normal(rng, (1, 2, 5, 4))),
            "4-d bool mask",
            {"attn_mask": bool_mask},
        ),
        Sample((normal(rng, (2, 1, 3, 2)),) * 3, "4-d causal", {"is_causal": True}),
        Sample(
            (normal(rng, (1, 2, 3, 4)), normal(rng, (1, 2, 5, 4)), normal(rng, (1, 2, 5, 4))),
            "4-d float mask",
            {"attn_mask": normal(rng, (3, 5))},
        ),
    ]


def _np_sdpa(q: Array, k: Array, v: Array, attn_mask: Any = None, **kw: Any) -> Array:
    scale = kw.get("scale") or 1 / math.sqrt(q.shape[-1])
    s = q @ np.swapaxes(k, -1, -2) * scale
    if kw.get("is_causal"):
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    if attn_mask is not None:
        s = np.where(attn_mask, s, -np.inf) if attn_mask.dtype == bool else s + attn_mask
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True) @ v


def _sdpa_fn(ns: Any, q: Any, k: Any, v: Any, attn_mask: Any = None, **kw: Any) -> Any:
    mask = None if attn_mask is None else ns.from_numpy(np.asarray(attn_mask))
    if mask is not None and mask.is_floating_point():
        mask = mask.to(q.dtype)
    return functional(ns).scaled_dot_product_attention(q, k, v, attn_mask=mask, **kw)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "scaled_dot_product_attention",
            "UnsafeViewBackward0",
            _sdpa_fn,
            _np_sdpa,
            lambda rng: _sdpa_samples(rng)[:4],
        ),
        OpInfo(
            "scaled_dot_product_attention_2d",
            "MmBackward0",
            _sdpa_fn,
            _np_sdpa,
            lambda rng: _sdpa_samples(rng)[4:5],
        ),
        OpInfo(
            "scaled_dot_product_attention_4d",
            "ScaledDotProductFlashAttentionForCpuBackward0",
            _sdpa_fn,
            _np_sdpa,
            lambda rng: _sdpa_samples(rng)[5:],
        ),
    ],
)
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(query @ key.T * scale + mask) @ value`` over the last two dims.

    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcast against
    the scores; ``is_causal``: a lower-triangular mask; ``scale`` defaults to
    ``1 / sqrt(E)``; ``dropout_p`` drops attention weights (always, as torch's function).
    """
    query = _tensor_arg(query, "query", "scaled_dot_product_attention")
    key = _tensor_arg(key, "key", "scaled_dot_product_attention")
    value = _tensor_arg(value, "value", "scaled_dot_product_attention")
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True"
        )
    if enable_gqa:
        key = _expand_heads(key, query.shape[-3])
        value = _expand_heads(value, query.shape[-3])
    fused = query.ndim == key.ndim == value.ndim == 4 and value.shape[-1] == query.shape[-1]
    if fused and dropout_p == 0.0 and query._data.dtype == key._data.dtype == value._data.dtype:
        factor = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
        dtype = query._data.dtype
        mask = _additive_mask(attn_mask, is_causal, (query.shape[-2], key.shape[-2]), dtype)
        arrays = (query._data, key._data, value._data)
        return _run_op(FlashAttention(), (query, key, value), arrays, scale=factor, mask=mask)
    weights = _safe_softmax(_masked(_scores(query, key, scale), attn_mask, is_causal))
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights.matmul(value)
