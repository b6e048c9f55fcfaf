"""Normalization: batch_norm, layer_norm, group_norm (one node each, as torch records them)
and normalize (``nn.functional``).

The three norms share one closed-form backward. It recomputes the normalized input from the
saved input with ``xp`` operations, so with ``create_graph=True`` the backward pass is itself
recorded and second derivatives follow.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad.engine.grad_mode import no_grad
from tapegrad.ops.base import ARRAY_NS, Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import Array, OpInfo, Sample, fixed, functional, normal
from tapegrad.promotion import _tensor_arg
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- shared math


def _normalized(xp: Any, x: Any, axes: tuple[int, ...], n: int, eps: float) -> tuple[Any, Any]:
    """``((x - mean) * rstd, rstd)`` over ``axes`` (biased variance), kept dims."""
    mean = xp.sum(x, axes) / n
    centered = x - mean
    rstd = 1 / xp.sqrt(xp.sum(centered * centered, axes) / n + eps)
    return centered * rstd, rstd


def _input_grad(xp: Any, gx: Any, xhat: Any, rstd: Any, axes: tuple[int, ...], n: int) -> Any:
    """The gradient through the normalization, given ``gx`` = upstream x weight."""
    mean_g = xp.sum(gx, axes) / n
    mean_gx = xp.sum(gx * xhat, axes) / n
    return rstd * (gx - mean_g - xhat * mean_gx)


def _channel_shape(ndim: int, channels: int) -> tuple[int, ...]:
    """``(1, C, 1, ...)``: a per-channel vector broadcast against an (N, C, ...) input."""
    return (1, channels) + (1,) * (ndim - 2)


def _affine_np(y: np.ndarray, w: Any, b: Any, shape: tuple[int, ...]) -> np.ndarray:
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


# -------------------------------------------------------------------------- ops


class NativeBatchNorm(Op):
    """Batch norm over every dim but the channel dim (1): batch statistics when training,
    the given running statistics otherwise (``stats``)."""

    __slots__ = ("axes", "n", "eps", "cshape", "stats")
    node_name = "NativeBatchNormBackward0"
    saves = (0, 1)

    def forward(self, x: np.ndarray, w: Any, b: Any, stats: Any, eps: float) -> np.ndarray:
        self.axes = (0, *range(2, x.ndim))
        self.n = x.size // x.shape[1]
        self.eps, self.cshape, self.stats = eps, _channel_shape(x.ndim, x.shape[1]), stats
        if stats is None:
            xhat, _ = _normalized(ARRAY_NS, x, self.axes, self.n, eps)
        else:
            xhat = (x - stats[0]) * stats[1]
        return _affine_np(xhat, w, b, self.cshape)

    def backward(self, xp: Any, g: Any, x: Any, w: Any) -> tuple[Any, ...]:
        (_, _), (nw, _), (nb, _) = self._edges
        gx = g if w is None else g * xp.reshape(w, self.cshape)
        if self.stats is None:
            xhat, rstd = _normalized(xp, x, self.axes, self.n, self.eps)
            dx = _input_grad(xp, gx, xhat, rstd, self.axes, self.n)
        else:
            xhat = (x - self.stats[0]) * self.stats[1]
            dx = gx * self.stats[1]
        channels = (self.cshape[1],)
        dw = xp.reshape(xp.sum(g * xhat, self.axes), channels) if nw is not None else None
        db = xp.reshape(xp.sum(g, self.axes), channels) if nb is not None else None
        return dx, dw, db


class NativeLayerNorm(Op):
    """Layer norm over the last ``len(normalized_shape)`` dims."""

    __slots__ = ("axes", "n", "eps")
    node_name = "NativeLayerNormBackward0"
    saves = (0, 1)

    def forward(self, x: np.ndarray, w: Any, b: Any, k: int, eps: float) -> np.ndarray:
        self.axes = tuple(range(x.ndim - k, x.ndim))
        self.n, self.eps = math.prod(x.shape[x.ndim - k :]), eps
        y, _ = _normalized(ARRAY_NS, x, self.axes, self.n, eps)
        return _affine_np(y, w, b, y.shape[x.ndim - k :])

    def backward(self, xp: Any, g: Any, x: Any, w: Any) -> tuple[Any, ...]:
        (_, _), (nw, _), (nb, _) = self._edges
        xhat, rstd = _normalized(xp, x, self.axes, self.n, self.eps)
        dx = _input_grad(xp, g if w is None else g * w, xhat, rstd, self.axes, self.n)
        return dx, (g * xhat if nw is not None else None), (g if nb is not None else None)


class NativeGroupNorm(Op):
    """Group norm: channels split into ``groups``, each normalized over its channels and
    positions, then a per-channel affine map."""

    __slots__ = ("groups", "n", "eps", "cshape")
    node_name = "NativeGroupNormBackward0"
    saves = (0, 1)

    def forward(self, x: np.ndarray, w: Any, b: Any, groups: int, eps: float) -> np.ndarray:
        self.groups, self.n, self.eps = groups, x.size // max(x.shape[0] * groups, 1), eps
        self.cshape = _channel_shape(x.ndim, x.shape[1])
        xhat, _ = _normalized(ARRAY_NS, x.reshape(x.shape[0], groups, -1), (2,), self.n, eps)
        return _affine_np(xhat.reshape(x.shape), w, b, self.cshape)

    def backward(self, xp: Any, g: Any, x: Any, w: Any) -> tuple[Any, ...]:
        (_, _), (nw, _), (nb, _) = self._edges
        grouped = (x.shape[0], self.groups, -1)
        xhat, rstd = _normalized(xp, xp.reshape(x, grouped), (2,), self.n, self.eps)
        gx = xp.reshape(g if w is None else g * xp.reshape(w, self.cshape), grouped)
        dx = xp.reshape(_input_grad(xp, gx, xhat, rstd, (2,), self.n), x.shape)
        axes, channels = (0, *range(2, len(x.shape))), (self.cshape[1],)
        dw = None
        if nw is not None:
            dw = xp.reshape(xp.sum(g * xp.reshape(xhat, x.shape), axes), channels)
        db = xp.reshape(xp.sum(g, axes), channels) if nb is not None else None
        return dx, dw, db


# -------------------------------------------------------------------------- checks


def _data(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else t._data


def _check_vector(t: Tensor | None, name: str, size: int) -> None:
    if t is not None and t.numel() != size:
        raise RuntimeError(f"{name} should contain {size} elements not {t.numel()}")


def _update_running(running: Tensor | None, batch: np.ndarray, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place (a buffer)."""
    if running is None:
        return
    new = (1 - momentum) * running._data + momentum * batch.astype(running._data.dtype)
    with no_grad():
        running.copy_(new.astype(running._data.dtype, copy=False))


def _batch_stats(
    x: np.ndarray, running_mean: Tensor | None, running_var: Tensor | None, momentum: float
) -> None:
    """Update the running statistics from this batch (torch keeps the unbiased variance;
    the caller has checked there are at least 2 values per channel)."""
    axes, n = (0, *range(2, x.ndim)), x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=axes) / (n - 1)
    _update_running(running_mean, mean.reshape(-1), momentum)
    _update_running(running_var, var, momentum)


# ---------------------------------------------------------------- nn.functional


def _bn_samples(training: bool) -> Any:
    def samples(rng: np.random.Generator) -> list[Sample]:
        out = []
        for shape, desc in (((4, 3), "(N, C)"), ((3, 2, 4), "(N, C, L)"), ((2, 3, 2, 2), "2d")):
            c = shape[1]
            kw: dict[str, Any] = {"training": training}
            if not training:
                kw["rm"], kw["rv"] = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
            out.append(Sample((normal(rng, shape), normal(rng, (c,)), normal(rng, (c,))), desc, kw))
        return out

    return samples


def _np_batch_norm(x: Array, w: Array, b: Array, training: bool, **kw: Any) -> Array:
    axes = (0, *range(2, x.ndim))
    shape = _channel_shape(x.ndim, x.shape[1])
    if training:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = kw["rm"].reshape(shape), kw["rv"].reshape(shape)
    return (x - mean) / np.sqrt(var + 1e-5) * w.reshape(shape) + b.reshape(shape)


def _bn_call(ns: Any, x: Any, w: Any, b: Any, training: bool, **kw: Any) -> Any:
    stats = [ns.from_numpy(np.asarray(kw[k])) if k in kw else None for k in ("rm", "rv")]
    return functional(ns).batch_norm(x, stats[0], stats[1], w, b, training=training)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "batch_norm", "NativeBatchNormBackward0", _bn_call, _np_batch_norm, _bn_samples(True)
        ),
        OpInfo(
            "batch_norm_eval",
            "NativeBatchNormBackward0",
            _bn_call,
            _np_batch_norm,
            _bn_samples(False),
        ),
    ],
)
def batch_norm(
    input: Tensor,  # noqa: A002 - torch's name
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each channel (dim 1) over the batch and the other dims, then scale and shift.

    Training: the batch's statistics are used and the running ones (if given) are updated in
    place with ``momentum`` (the variance unbiased). Otherwise the running ones are used.
    """
    x = _tensor_arg(input, "input", "batch_norm")
    channels = x.shape[1] if x.ndim > 1 else 0
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        _check_vector(t, name, channels)
    _check_vector(weight, "weight", channels)
    _check_vector(bias, "bias", channels)
    if training:
        if x.numel() // max(channels, 1) <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"torch.Size({list(x.shape)})"
            )
        _batch_stats(x._data, running_mean, running_var, momentum)
        stats = None
    else:
        if running_mean is None or running_var is None:
            name = "running_mean" if running_mean is None else "running_var"
            raise RuntimeError(f"{name} must be defined in evaluation mode")
        shape = _channel_shape(x.ndim, channels)
        mean = running_mean._data.astype(x._data.dtype).reshape(shape)
        rstd = 1 / np.sqrt(running_var._data.astype(x._data.dtype).reshape(shape) + eps)
        stats = (mean, rstd.astype(x._data.dtype))
    arrays = (x._data, _data(weight), _data(bias))
    return _run_op(NativeBatchNorm(), (x, weight, bias), arrays, stats=stats, eps=eps)


def _np_layer_norm(x: Array, w: Any = None, b: Any = None, normalized_shape: Any = ()) -> Array:
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + 1e-5)
    return y if w is None else y * w + b


@declare(
    functional=True,
    tests=[
        OpInfo(
            "layer_norm",
            "NativeLayerNormBackward0",
            lambda ns, x, *wb, **kw: functional(ns).layer_norm(x, kw["normalized_shape"], *wb),
            _np_layer_norm,
            fixed(
                (((3, 4), (4,), (4,)), "last dim", {"normalized_shape": (4,)}),
                (((2, 3, 4), (3, 4), (3, 4)), "last two", {"normalized_shape": (3, 4)}),
                (((2, 5),), "no affine", {"normalized_shape": (5,)}),
            ),
        ),
    ],
)
def layer_norm(
    input: Tensor,  # noqa: A002 - torch's name
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the last dims (``normalized_shape``), then scale and shift elementwise."""
    x = _tensor_arg(input, "input", "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if x.shape[x.ndim - k :] != shape or k > x.ndim:
        expected = ", ".join(str(s) for s in shape)
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, {expected}], "
            f"but got input of size{list(x.shape)}"
        )
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.shape != shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                f"shape {list(t.shape)} and normalized_shape = {list(shape)}"
            )
    arrays = (x._data, _data(weight), _data(bias))
    return _run_op(NativeLayerNorm(), (x, weight, bias), arrays, k=k, eps=eps)


def _np_group_norm(x: Array, w: Array, b: Array, num_groups: int) -> Array:
    r = x.reshape(x.shape[0], num_groups, -1)
    y = (r - r.mean(axis=2, keepdims=True)) / np.sqrt(r.var(axis=2, keepdims=True) + 1e-5)
    shape = _channel_shape(x.ndim, x.shape[1])
    return y.reshape(x.shape) * w.reshape(shape) + b.reshape(shape)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "group_norm",
            "NativeGroupNormBackward0",
            lambda ns, x, w, b, **kw: functional(ns).group_norm(x, kw["num_groups"], w, b),
            _np_group_norm,
            fixed(
                (((2, 4, 3), (4,), (4,)), "2 groups", {"num_groups": 2}),
                (((2, 6, 2, 2), (6,), (6,)), "2d, 3 groups", {"num_groups": 3}),
                (((3, 2), (2,), (2,)), "one group", {"num_groups": 1}),
            ),
        ),
    ],
)
def group_norm(
    input: Tensor,  # noqa: A002 - torch's name
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize groups of channels over their channels and positions, then an affine map."""
    x = _tensor_arg(input, "input", "group_norm")
    if x.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {x.ndim}")
    channels = x.shape[1]
    if channels % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(x.shape)} and num_groups={num_groups}"
        )
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and (t.ndim != 1 or t.numel() != channels):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(t.shape)} and input of shape "
                f"{list(x.shape)}"
            )
    arrays = (x._data, _data(weight), _data(bias))
    return _run_op(NativeGroupNorm(), (x, weight, bias), arrays, groups=num_groups, eps=eps)


def _np_normalize(x: Array, p: float = 2.0, dim: int = 1) -> Array:
    norm = np.sum(np.abs(x) ** p, axis=dim, keepdims=True) ** (1 / p)
    return x / np.maximum(norm, 1e-12)


@declare(
    functional=True,
    tests=[
        OpInfo(
            "normalize",
            "DivBackward0",
            lambda ns, x, **kw: functional(ns).normalize(x, **kw),
            _np_normalize,
            fixed(
                (((3, 4),), "default", {}),
                (((2, 3, 4),), "p=1 dim=-1", {"p": 1.0, "dim": -1}),
                (((4, 3),), "p=3 dim=0", {"p": 3.0, "dim": 0}),
            ),
        ),
    ],
)
def normalize(
    input: Tensor,  # noqa: A002 - torch's name
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
    out: Tensor | None = None,
) -> Tensor:
    """``input`` divided by its ``p``-norm along ``dim`` (at least ``eps``)."""
    x = _tensor_arg(input, "input", "normalize")
    denom = x.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(x)
    if out is None:
        return x / denom
    return out.copy_(x / denom)
