"""Registry samples of the convolutions, and their numpy references (written with fancy
indexing and ``np.add.at``, independently of the strided-window kernels they check)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.samples import fixed


def _tup(v: Any, k: int) -> tuple[int, ...]:
    return (v,) * k if isinstance(v, int) else tuple(v) * (k if len(v) == 1 else 1)


def _pads(padding: Any, w: np.ndarray, d: tuple[int, ...]) -> list[tuple[int, int]]:
    k = w.ndim - 2
    if padding == "valid":
        return [(0, 0)] * k
    if padding == "same":
        tot = [dd * (kk - 1) for kk, dd in zip(w.shape[2:], d)]
        return [(t // 2, t - t // 2) for t in tot]
    return [(p, p) for p in _tup(padding, k)]


def _letters(k: int) -> tuple[str, str]:
    return "uvw"[:k], "xyz"[:k]


def ref_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: ANN001, ANN201
    """Convolution by gathering every window with index arrays and one einsum."""
    k = w.ndim - 2
    unbatched = x.ndim == k + 1
    x = x[None] if unbatched else x
    s, d = _tup(stride, k), _tup(dilation, k)
    xp = np.pad(x, [(0, 0), (0, 0), *_pads(padding, w, d)])
    idx = []
    for i in range(k):
        o = (xp.shape[2 + i] - d[i] * (w.shape[2 + i] - 1) - 1) // s[i] + 1
        idx.append(np.arange(o)[:, None] * s[i] + np.arange(w.shape[2 + i])[None] * d[i])
    if k == 1:
        patches = xp[:, :, idx[0]]
    else:
        patches = xp[:, :, idx[0][:, None, :, None], idx[1][None, :, None, :]]
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    patches = patches.reshape(n, groups, c // groups, *patches.shape[2:])
    wg = w.reshape(groups, o // groups, *w.shape[1:])
    ol, kl = _letters(k)
    out = np.einsum(f"ngc{ol}{kl},gmc{kl}->ngm{ol}", patches, wg)
    out = out.reshape(n, o, *out.shape[3:])
    if b is not None:
        out = out + b.reshape(-1, *(1,) * k)
    return out[0] if unbatched else out


def ref_conv_t(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):  # noqa: ANN001, ANN201
    """Transposed convolution by adding every input-times-kernel product at its place."""
    k = w.ndim - 2
    unbatched = x.ndim == k + 1
    x = x[None] if unbatched else x
    s, d = _tup(stride, k), _tup(dilation, k)
    p, op = _tup(padding, k), _tup(output_padding, k)
    n, cin = x.shape[:2]
    xg = x.reshape(n, groups, cin // groups, *x.shape[2:])
    wg = w.reshape(groups, cin // groups, *w.shape[1:])
    il, kl = _letters(k)
    contrib = np.einsum(f"ngc{il},gcm{kl}->ngm{il}{kl}", xg, wg)
    size, kern = x.shape[2:], w.shape[2:]
    full = [(size[i] - 1) * s[i] + d[i] * (kern[i] - 1) + 1 + op[i] for i in range(k)]
    y = np.zeros((n, groups, w.shape[1], *full))
    if k == 1:
        pos = (np.arange(size[0])[:, None] * s[0] + np.arange(kern[0])[None] * d[0],)
    else:
        i0 = np.arange(size[0])[:, None, None, None] * s[0]
        i1 = np.arange(size[1])[None, :, None, None] * s[1]
        k0 = np.arange(kern[0])[None, None, :, None] * d[0]
        k1 = np.arange(kern[1])[None, None, None, :] * d[1]
        pos = (
            np.broadcast_to(i0 + k0, contrib.shape[3:]),
            np.broadcast_to(i1 + k1, contrib.shape[3:]),
        )
    np.add.at(y, (slice(None),) * 3 + pos, contrib)
    crop = tuple(slice(p[i], full[i] - p[i]) for i in range(k))
    y = y[(slice(None),) * 3 + crop].reshape(
        n, groups * w.shape[1], *[f - 2 * q for f, q in zip(full, p)]
    )
    if b is not None:
        y = y + b.reshape(-1, *(1,) * k)
    return y[0] if unbatched else y


CONV2D = fixed(
    (((2, 2, 4, 4), (2, 2, 3, 3), (2,)), "bias", {}),
    (((1, 2, 6, 5), (2, 2, 3, 2)), "stride 2 padding 1", {"stride": 2, "padding": 1}),
    (((1, 4, 5, 5), (4, 2, 2, 2), (4,)), "dilation 2 groups 2", {"dilation": 2, "groups": 2}),
    (((1, 2, 5, 4), (2, 2, 2, 3)), "same, even kernel", {"padding": "same"}),
    (((2, 4, 4), (3, 2, 2, 2)), "unbatched", {}),
    (((1, 1, 5, 4), (2, 1, 2, 2)), "valid, stride (2, 1)", {"padding": "valid", "stride": (2, 1)}),
)
CONV1D = fixed(
    (((2, 3, 7), (4, 3, 3), (4,)), "bias", {}),
    (
        ((1, 2, 9), (2, 2, 2)),
        "stride 2 padding 1 dilation 2",
        {"stride": 2, "padding": 1, "dilation": 2},
    ),
    (((1, 3, 5), (3, 1, 2)), "groups 3 same", {"groups": 3, "padding": "same"}),
    (((2, 6), (3, 2, 3)), "unbatched", {}),
)
CONV_T2D = fixed(
    (((2, 2, 3, 3), (2, 2, 3, 3), (2,)), "bias", {}),
    (
        ((1, 2, 3, 2), (2, 2, 3, 2)),
        "stride 2 padding 1 output_padding 1",
        {"stride": 2, "padding": 1, "output_padding": 1},
    ),
    (((1, 4, 3, 3), (4, 1, 2, 2)), "groups 2 dilation 2", {"groups": 2, "dilation": 2}),
    (((2, 3, 3), (2, 1, 2, 2)), "unbatched", {}),
)
CONV_T1D = fixed(
    (((2, 3, 4), (3, 2, 3), (2,)), "bias", {}),
    (
        ((1, 2, 4), (2, 3, 2)),
        "stride 3 padding 1 output_padding 2",
        {"stride": 3, "padding": 1, "output_padding": 2},
    ),
)
