"""PyTorch-identical tensor reprs, following ``torch/_tensor_str.py`` with default print options."""

from __future__ import annotations

import math

import numpy as np

_PRECISION = 4
_THRESHOLD = 1000
_EDGEITEMS = 3
_LINEWIDTH = 80
_PREFIX = "tensor("
_SILENT_DTYPES = ("float32", "int64", "bool")


class _Formatter:
    """Chooses one number style and column width for every element of a tensor."""

    def __init__(self, data: np.ndarray) -> None:
        self.floating = data.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = data.reshape(-1)
        if not self.floating:
            self.max_width = max([1, *(len(str(v)) for v in flat.tolist())])
            return
        # torch measures only nonzero finite values, in double precision.
        vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if vals.size == 0:
            return
        lo, hi = float(np.abs(vals).min()), float(np.abs(vals).max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        if self.sci_mode:
            strs = [f"{v:.{_PRECISION}e}" for v in vals.tolist()]
        elif self.int_mode:
            strs = [f"{v:.0f}." for v in vals.tolist()]
        else:
            strs = [f"{v:.{_PRECISION}f}" for v in vals.tolist()]
        self.max_width = max(len(s) for s in strs)

    def format(self, value: float | int | bool) -> str:
        """Format one Python scalar, right-aligned to the common width."""
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{_PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if not (math.isinf(value) or math.isnan(value)):
                text += "."
        else:
            text = f"{value:.{_PRECISION}f}"
        return text.rjust(self.max_width)


def _summarized(data: np.ndarray) -> np.ndarray:
    """Keep only the edge items of every long axis (what a summarized repr shows)."""
    for axis, n in enumerate(data.shape):
        if n > 2 * _EDGEITEMS:
            keep = [*range(_EDGEITEMS), *range(n - _EDGEITEMS, n)]
            data = np.take(data, keep, axis=axis)
    return data


def _vector_str(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, (_LINEWIDTH - indent) // (fmt.max_width + 2))
    n = data.shape[0]
    if summarize and n > 2 * _EDGEITEMS:
        head = [fmt.format(v) for v in data[:_EDGEITEMS].tolist()]
        tail = [fmt.format(v) for v in data[-_EDGEITEMS:].tolist()]
        items = [*head, " ...", *tail]
    else:
        items = [fmt.format(v) for v in data.tolist()]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _body_str(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if data.ndim == 0:
        return fmt.format(data.item())
    if data.ndim == 1:
        return _vector_str(data, indent, summarize, fmt)
    n = data.shape[0]
    if summarize and n > 2 * _EDGEITEMS:
        rows = [*range(_EDGEITEMS), None, *range(n - _EDGEITEMS, n)]
    else:
        rows = list(range(n))
    slices = ["..." if i is None else _body_str(data[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    # The "+ 1" (rather than - 1) is torch's own arithmetic; keep it to wrap where torch does.
    last_len = len(text) - text.rfind("\n") + 1
    parts = [text]
    for suffix in suffixes:
        # Measure torch's spelling so lines break exactly where torch's do.
        width = len(suffix.replace("tapegrad.", "torch."))
        if last_len + width + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_len = indent + width
        else:
            parts.append(", " + suffix)
            last_len += width + 2
    return "".join(parts) + ")"


def format_tensor(data: np.ndarray, dtype_name: str, grad_suffix: str | None = None) -> str:
    """Return the PyTorch 2.x repr of a tensor holding `data`, spelling `torch.` as `tapegrad.`.

    `dtype_name` is the tapegrad dtype name used in the ``dtype=`` suffix; `grad_suffix`
    (``"requires_grad=True"`` or ``"grad_fn=<MulBackward0>"``) is appended last, as torch does.
    """
    data = np.asarray(data)
    indent = len(_PREFIX)
    suffixes = []
    if data.size == 0:
        # Nothing shows the shape or dtype of an empty tensor, so torch spells them out.
        if data.ndim != 1:
            suffixes.append(f"size={tuple(data.shape)}")
        if dtype_name != "float32":
            suffixes.append(f"dtype=tapegrad.{dtype_name}")
        body = "[]"
    else:
        if dtype_name not in _SILENT_DTYPES:
            suffixes.append(f"dtype=tapegrad.{dtype_name}")
        summarize = data.size > _THRESHOLD
        fmt = _Formatter(_summarized(data) if summarize else data)
        body = _body_str(data, indent, summarize, fmt)
    if grad_suffix:
        suffixes.append(grad_suffix)
    return _add_suffixes(_PREFIX + body, suffixes, indent)
