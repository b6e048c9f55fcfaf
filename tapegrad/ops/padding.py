"""``nn.functional.pad``: constant, reflect, replicate and circular padding, with torch's
rules on which dimensions each mode pads and its error messages."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._array import shape_str
from tapegrad.ops.base import Op
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed, functional
from tapegrad.recording import _run_op
from tapegrad.tensor import Tensor

# -------------------------------------------------------------------------- ops


class ConstantPad(Op):
    """Pad with ``value`` (negative pads crop); backward reads the input's region back."""

    node_name = "ConstantPadNdBackward0"

    def forward(self, a: np.ndarray, pairs: tuple[tuple[int, int], ...], value: Any) -> np.ndarray:
        lead = a.ndim - len(pairs)
        shape = a.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in zip(a.shape[lead:], pairs))
        self.in_shape = a.shape
        self.src = (slice(None),) * lead + tuple(
            slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(a.shape[lead:], pairs)
        )
        self.dst = (slice(None),) * lead + tuple(
            slice(max(lo, 0), m - max(hi, 0)) for m, (lo, hi) in zip(shape[lead:], pairs)
        )
        out = np.full(shape, value, a.dtype)
        out[self.dst] = a[self.src]
        return out

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        return (xp.index_into_zeros(xp.index(g, self.dst), self.in_shape, self.src, False),)


class IndexPad(Op):
    """Reflect, replicate or circular padding: the output gathers input positions, one
    padded dimension at a time; backward scatters the gradient back, adding repeats."""

    node_name = "ReflectionPad1DBackward0"

    def forward(self, a: np.ndarray, steps: tuple[tuple[int, np.ndarray], ...]) -> np.ndarray:
        self.steps, self.shapes = steps, []
        for axis, index in steps:
            self.shapes.append(a.shape)
            a = np.take(a, index, axis=axis)
        return a

    def backward(self, xp: Any, g: Any) -> tuple[Any, ...]:
        for (axis, index), shape in zip(reversed(self.steps), reversed(self.shapes)):
            g = xp.index_into_zeros(g, shape, (slice(None),) * axis + (index,), True)
        return (g,)


_INDEX_OPS = {
    (mode, k): type(name, (IndexPad,), {"__slots__": (), "node_name": name})
    for mode, kind in (("reflect", "Reflection"), ("replicate", "Replication"))
    for k in (1, 2, 3)
    for name in [f"{kind}Pad{k}DBackward0"]
}
# torch builds circular padding from slice copies into a new tensor
_INDEX_OPS.update(
    {
        ("circular", k): type(
            "CopySlices", (IndexPad,), {"__slots__": (), "node_name": "CopySlices"}
        )
        for k in (1, 2, 3)
    }
)


def _source(mode: str, n: int, lo: int, hi: int) -> np.ndarray:
    """For each output position along one dimension, the input position it reads."""
    p = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(p, 0, n - 1)
    if mode == "circular":  # torch crops first, then wraps around what is left
        start, core = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        return start + (np.arange(-max(lo, 0), core + max(hi, 0)) % core) if core else p
    p = np.abs(p)
    return np.where(p >= n, 2 * (n - 1) - p, p)


# ------------------------------------------------------------------------ checks


def _pairs(pad: Sequence[int], ndim: int) -> tuple[tuple[int, int], ...]:
    """The (before, after) pads of the last dims, outermost first, from torch's ``pad``
    (which lists the last dimension first)."""
    if isinstance(pad, Tensor) or not isinstance(pad, Sequence):
        raise TypeError(
            f"pad(): argument 'pad' (position 2) must be tuple of ints, not {type(pad).__name__}"
        )
    for i, p in enumerate(pad):
        if isinstance(p, bool) or not isinstance(p, int | np.integer):
            raise TypeError(
                "pad(): argument 'pad' (position 2) must be tuple of ints, but found element "
                f"of type {type(p).__name__} at pos {i}"
            )
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {ndim}"
        )
    pads = [operator.index(p) for p in pad]
    return tuple((pads[i], pads[i + 1]) for i in range(len(pads) - 2, -1, -2))


def _check_crop(shape: tuple[int, ...], pairs: tuple[tuple[int, int], ...]) -> None:
    """Constant padding crops with ``narrow`` first, and fails where narrow does."""
    for n, (lo, hi) in zip(shape[len(shape) - len(pairs) :], pairs):
        if lo < 0:
            n += lo
            if n < 0:
                raise RuntimeError("narrow(): length must be non-negative.")
        if hi < 0 and n + hi < 0:
            raise RuntimeError("narrow(): length must be non-negative.")


def _fill_value(value: Any, dtype: np.dtype) -> Any:
    if dtype.kind in "iu" and not isinstance(value, bool):
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise RuntimeError(f"value cannot be converted to type {dtype.name}_t without overflow")
        return int(value)
    return value


def _check_index_mode(t: Tensor, mode: str, pairs: tuple[tuple[int, int], ...]) -> None:
    """Which inputs reflect/replicate/circular accept: ``k`` padded dims of a (k+1)-d or
    (k+2)-d tensor, with torch's checks of each mode."""
    k, shape = len(pairs), t.shape
    if k not in (1, 2, 3) or t.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {2 * k} is not supported for {t.ndim}D input tensor."
        )
    sizes = shape[t.ndim - k :]
    if mode == "circular":
        _check_circular(sizes, pairs)
        return
    batched = t.ndim == k + 2
    if any(s == 0 for s in shape[1 if batched else 0 :]):
        raise RuntimeError(
            f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and "
            f"other non-zero dimensions for input, but got: {shape_str(shape)}"
        )
    if mode == "reflect":
        for j in reversed(range(k)):  # torch checks W, then H, then D
            lo, hi = pairs[j]
            if not (lo < sizes[j] and hi < sizes[j]):
                raise RuntimeError(
                    f"Argument #{4 + 2 * (k - 1 - j)}: Padding size should be less than the "
                    f"corresponding input dimension, but got: padding ({lo}, {hi}) at dimension "
                    f"{t.ndim - k + j} of input {shape_str(shape)}"
                )
    _check_output_size(mode, sizes, pairs, shape)


def _check_output_size(
    mode: str, sizes: tuple[int, ...], pairs: tuple[tuple[int, int], ...], shape: tuple[int, ...]
) -> None:
    out = [n + lo + hi for n, (lo, hi) in zip(sizes, pairs)]
    names = "DHW"[3 - len(sizes) :]
    if all(o < 1 for o in out):
        given = {1: "W: {}", 2: "H: {}, W: {}", 3: "D: {} H: {}, W: {}"}[len(sizes)]
        if len(sizes) == 2 and mode == "replicate":
            given += " "  # sic, torch's replication_pad2d message
        calculated = " ".join(f"{name}: {o}" for name, o in zip(names, out))
        raise RuntimeError(
            f"input ({given.format(*sizes)}) is too small. Calculated output {calculated}"
        )
    if any(o < 0 for o in out):
        target = shape[: len(shape) - len(sizes)] + tuple(out)
        bad = next(o for o in out if o < 0)
        raise RuntimeError(
            f"Trying to create tensor with negative dimension {bad}: {shape_str(target)}"
        )


def _check_circular(sizes: tuple[int, ...], pairs: tuple[tuple[int, int], ...]) -> None:
    for n, (lo, hi) in zip(sizes, pairs):
        if lo > n or hi > n:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if n + lo + hi < 0:
            raise RuntimeError("Negative padding value is resulting in an empty dimension")
        if max(lo, hi) > n - max(-lo, 0) - max(-hi, 0):  # torch's wrap reads its own output
            raise RuntimeError(
                "unsupported operation: some elements of the input tensor and the written-to "
                "tensor refer to a single memory location. Please clone() the tensor before "
                "performing the operation."
            )


# ------------------------------------------------------------------- the function


_PAD_SAMPLES = fixed(
    (((3, 4),), "last dim", {"pad": (1, 2)}),
    (((2, 3, 4),), "two dims", {"pad": (1, 0, 2, 1)}),
    (((2, 3, 4),), "crop and pad", {"pad": (-1, 2)}),
    (((2, 3, 4),), "value 1.5", {"pad": (1, 1), "value": 1.5}),
    (((2, 1, 3),), "size-1 dim, three dims", {"pad": (0, 1, 1, 1, 1, 0)}),
)


def _np_pad(a: np.ndarray, pad: Sequence[int], mode: str = "constant", value: float = 0.0):
    pairs = [(0, 0)] * (a.ndim - len(pad) // 2) + [
        (pad[i], pad[i + 1]) for i in range(len(pad) - 2, -1, -2)
    ]
    crop = tuple(slice(max(-lo, 0), a.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(pairs))
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    np_mode = {"replicate": "edge", "circular": "wrap"}.get(mode, mode)
    if mode == "constant":
        return np.pad(a[crop], widths, constant_values=value)
    return np.pad(a[crop], widths, mode=np_mode)


def _mode_samples(mode: str) -> Any:
    cases = [
        (((2, 5),), "1d unbatched", {"pad": (2, 1), "mode": mode}),
        (((2, 3, 5),), "1d batched", {"pad": (1, 3), "mode": mode}),
        (((2, 3, 4),), "2d", {"pad": (1, 2, 2, 1), "mode": mode}),
        (((1, 2, 3, 4),), "2d batched", {"pad": (2, 0, 1, 1), "mode": mode}),
        (((2, 3, 3, 4),), "3d", {"pad": (1, 1, 0, 2, 1, 1), "mode": mode}),
    ]
    if mode != "reflect":  # numpy's reflect cannot crop
        cases.append((((2, 3, 5),), "crop", {"pad": (-1, 2), "mode": mode}))
    return fixed(*cases)


def _pad_info(mode: str, node: str) -> OpInfo:
    return OpInfo(
        f"pad_{mode}",
        node,
        lambda ns, a, **kw: functional(ns).pad(a, **kw),
        _np_pad,
        _mode_samples(mode),
    )


@declare(
    functional="pad",
    tests=[
        OpInfo(
            "pad",
            "ConstantPadNdBackward0",
            lambda ns, a, **kw: functional(ns).pad(a, **kw),
            _np_pad,
            _PAD_SAMPLES,
        ),
        _pad_info("reflect", "ReflectionPad1DBackward0"),
        _pad_info("replicate", "ReplicationPad1DBackward0"),
        _pad_info("circular", "CopySlices"),
    ],
)
def pad(
    input: Tensor,  # noqa: A002 - torch's name
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad`` is (left, right) of the last dim, then of
    the one before... ``mode``: constant (``value``), reflect, replicate or circular."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"pad(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pairs = _pairs(pad, input.ndim)
    if mode == "constant":
        _check_crop(input.shape, pairs)
        fill = _fill_value(0 if value is None else value, input._data.dtype)
        return _run_op(ConstantPad(), (input,), (input._data,), pairs=pairs, value=fill)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    _check_index_mode(input, mode, pairs)
    lead = input.ndim - len(pairs)
    steps = tuple(
        (lead + j, _source(mode, input.shape[lead + j], lo, hi)) for j, (lo, hi) in enumerate(pairs)
    )
    return _run_op(_INDEX_OPS[mode, len(pairs)](), (input,), (input._data,), steps=steps)
