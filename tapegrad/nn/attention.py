"""MultiheadAttention, computed as torch's ``F.multi_head_attention_forward`` computes it, with
torch's parameter names (``in_proj_weight``, ``out_proj.weight``...) so its weights load."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad.factories import empty, zeros
from tapegrad.nn import functional as F
from tapegrad.nn import init
from tapegrad.nn.layers import Linear
from tapegrad.nn.module import Module
from tapegrad.nn.parameter import Parameter
from tapegrad.ops.shape import cat
from tapegrad.tensor import Tensor, _wrap

__all__: list[str] = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for MultiheadAttention's output projection (a plain Linear)."""


def _float_mask(mask: Tensor | None, like: Tensor) -> Tensor | None:
    """A bool mask (True = masked out) as 0 / -inf in ``like``'s dtype; a float one as is."""
    if mask is None or mask._data.dtype != np.bool_:
        return mask
    values = np.where(mask._data, -np.inf, 0.0).astype(like._data.dtype)
    return _wrap(values)


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size ``embed_dim // num_heads``, with input and
    output projections. Inputs are (L, N, E), or (N, L, E) with ``batch_first``, or (L, E)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        """Projections initialized as torch: xavier-uniform inputs, zero biases."""
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                f"and num_heads={num_heads} instead"
            )
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, dtype=dtype))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v = Parameter(empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """``(attn_output, attn_weights)``: weights averaged over heads unless
        ``average_attn_weights=False``, None unless ``need_weights``. Masks: bool (True =
        not attended) or float (added); ``key_padding_mask`` (N, S), ``attn_mask`` (L, S) or
        (N * num_heads, L, S)."""
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                "module method `generate_square_subsequent_mask` to create this mask."
            )
        batched = query.dim() == 3
        if self.batch_first and batched:
            query, key, value = _batch_second(query, key, value)
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        out, weights = self._attend(
            query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights
        )
        if not batched:
            return out.squeeze(1), (weights.squeeze(0) if weights is not None else None)
        if self.batch_first:
            out = out.transpose(1, 0)
        return out, weights

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:e], w[e : 2 * e], w[2 * e :]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def _attend(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None,
        need_weights: bool,
        attn_mask: Tensor | None,
        average: bool,
    ) -> tuple[Tensor, Tensor | None]:
        tgt_len, bsz, _ = query.shape
        heads, head_dim = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        mask, padding = _float_mask(attn_mask, q), _float_mask(key_padding_mask, q)
        if self.bias_k is not None and self.bias_v is not None:
            k = cat([k, self.bias_k.repeat(1, bsz, 1)])
            v = cat([v, self.bias_v.repeat(1, bsz, 1)])
            mask, padding = _pad_key(mask), _pad_key(padding)
        q = q.reshape(tgt_len, bsz * heads, head_dim).transpose(0, 1)
        k = k.reshape(k.shape[0], bsz * heads, head_dim).transpose(0, 1)
        v = v.reshape(v.shape[0], bsz * heads, head_dim).transpose(0, 1)
        if self.add_zero_attn:
            zero = zeros(bsz * heads, 1, head_dim, dtype=k.dtype)
            k, v = cat([k, zero], dim=1), cat([v, zero], dim=1)
            mask, padding = _pad_key(mask), _pad_key(padding)
        src_len = k.shape[1]
        mask = _merged_mask(mask, padding, bsz, heads, src_len)
        p = self.dropout if self.training else 0.0
        scores = (q * math.sqrt(1.0 / head_dim)).matmul(k.transpose(-2, -1))
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(-1)
        if p > 0.0:
            weights = F.dropout(weights, p)
        out = weights.matmul(v).transpose(0, 1).reshape(tgt_len * bsz, self.embed_dim)
        out = F.linear(out, self.out_proj.weight, self.out_proj.bias)
        out = out.reshape(tgt_len, bsz, self.embed_dim)
        if not need_weights:
            return out, None
        weights = weights.reshape(bsz, heads, tgt_len, src_len)
        return out, (weights.mean(1) if average else weights)


def _batch_second(query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(N, L, E) inputs as (L, N, E), transposing a shared tensor once (as torch)."""
    q = query.transpose(1, 0)
    k = q if key is query else key.transpose(1, 0)
    v = k if value is key else value.transpose(1, 0)
    return q, k, v


def _pad_key(mask: Tensor | None) -> Tensor | None:
    """A float mask with one more key position (attended: 0), for bias_k or zero_attn."""
    return None if mask is None else F.pad(mask, (0, 1))


def _merged_mask(
    mask: Tensor | None, padding: Tensor | None, bsz: int, heads: int, src_len: int
) -> Tensor | None:
    """The additive mask of shape (1 or N * heads, L, S) from both (float) masks."""
    if mask is not None and mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if padding is not None:
        padding = (
            padding.reshape(bsz, 1, 1, src_len)
            .expand(-1, heads, -1, -1)
            .reshape(bsz * heads, 1, src_len)
        )
        mask = padding if mask is None else mask + padding
    return mask
