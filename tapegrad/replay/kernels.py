"""Inline replay kernels for the commonest ops: the numpy expression the op's own ``forward``
or ``backward`` evaluates, written straight into the program (no Python call per op).

Each expression is the op's code, operation for operation, so the results are bit-identical
to calling the op; an op not listed here is replayed by calling its methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad._array import _GEMV_SUM_MAX_BYTES, _ones, sum_to
from tapegrad.engine.backward import _ignore_errors, _restore_errors
from tapegrad.ops.arithmetic import Add, Mul, Neg, Sub
from tapegrad.ops.copying import _fill_kernel
from tapegrad.ops.linalg import Addmm, LinearAddmm, Mm
from tapegrad.ops.loss import MseLoss
from tapegrad.ops.pointwise import Abs, Clamp, Exp, Log, Relu, Sigmoid, Sqrt, Tanh
from tapegrad.ops.power import Pow
from tapegrad.ops.reduce import Mean, MeanDim, Sum, SumDim

# Ops whose forward is a fixed numpy computation of its arguments: the recorder need not run
# them twice to check that they repeat (every other op is run twice, so random or stateful
# ops are caught).
DETERMINISTIC = frozenset(
    (Add, Sub, Mul, Neg, Mm, Addmm, LinearAddmm, Tanh, Relu, Clamp, Exp, Log, Sqrt, Sigmoid)
    + (Abs, Pow, Sum, SumDim, Mean, MeanDim, MseLoss)
)

_FORWARD = {
    Add: "{0} + {1}",
    Sub: "{0} - {1}",
    Mul: "{0} * {1}",
    Neg: "-{0}",
    Mm: "{0}.dot({1})",
    Tanh: "_tanh({0})",
    Relu: "_maximum({0}, 0)",
}


RUNTIME = {
    # np.errstate(all="ignore") as the engine enters it (through numpy's context variable)
    "_quiet": _ignore_errors,
    "_loud": _restore_errors,
    "_tanh": np.tanh,
    "_maximum": np.maximum,
    "_minimum": np.minimum,
    "_clip": np.clip,
    "_sum_to": sum_to,
}

# Backward rules that depend only on the incoming gradient and the op's shape attributes: with
# a constant gradient (the loss's seed) their result is a constant of the program.
FOLDABLE = frozenset((Sum, SumDim, Mean, MeanDim))


def inplace_line(ufunc: Any, target: str, value: str) -> str:
    """The line for an in-place kernel ``ufunc(target, value, out=target)``."""
    if ufunc is _fill_kernel:
        return f"{target}.fill({value})"  # what ``_fill_kernel`` does (zero_, fill_)
    return ""


def forward_expr(
    op: Any, args: list[str], meta: dict[str, Any], kw: dict[str, str], arrays: Any
) -> str | None:
    """The expression ``op.forward`` evaluates on ``args`` (``kw``: the program's names for
    the keyword arguments ``meta``), or None (call the op)."""
    cls = type(op)
    if cls is Pow:
        return f"{args[0]} ** {kw['exponent']}"
    if cls is Clamp and getattr(arrays[0], "dtype", None) is not None:
        # np.clip on floats: maximum with only a lower bound, minimum with only an upper one
        if arrays[0].dtype.kind != "f" or (meta["min"] is None and meta["max"] is None):
            return None
        if meta["max"] is None:
            return f"_maximum({args[0]}, {kw['min']})"
        if meta["min"] is None:
            return f"_minimum({args[0]}, {kw['max']})"
        return f"_clip({args[0]}, {kw['min']}, {kw['max']})"
    template = _FORWARD.get(cls)
    if template is None or meta:
        return None
    return template.format(*args)


def backward_exprs(
    op: Any,
    grad: str,
    saved: list[str],
    outputs: tuple[Any, ...],
    const: Callable[[Any], str],
    unit: bool = False,
) -> list[str | None] | None:
    """One expression per gradient ``op.backward`` returned (None where it returned None),
    given the real ``outputs`` of the recorded run (their shapes pick ``_mm``'s branch); None
    when the op has no inline kernel. ``const`` names a constant; ``unit``: ``grad`` is all
    ones, of the gradient's own shape and dtype (``grad * x`` is then ``x``, exactly)."""
    cls = type(op)
    if cls is Pow and op.exponent != 0:
        p = op.exponent
        factor = f"{const(p)} * {saved[0]}"
        if p != 2:
            factor += f" ** {const(p - 1)}"
        return [f"{factor}" if unit else f"{grad} * ({factor})"]
    if cls is Add:
        return [grad, grad]
    if cls is Sub:
        return [grad, None if outputs[1] is None else f"-{grad}"]
    if cls is Tanh:
        return [f"{grad} * (1 - {saved[0]} * {saved[0]})"]
    if cls is Mm:
        return _mm_exprs(grad, saved, op)
    if cls is Relu:
        return [f"{grad} * {saved[0]}"]  # xp.mul_const(g, mask)
    if cls in (Addmm, LinearAddmm):
        return _addmm_exprs(grad, saved, op, const)
    return None


def _addmm_exprs(grad: str, saved: list[str], op: Any, const: Callable[[Any], str]) -> Any:
    """``Addmm.backward``: the bias's gradient summed to its shape (``sum_to``: a gemv with
    ones for a bias row), then ``Mm``'s two products; ``LinearAddmm`` transposes the weight's
    gradient back (what its folded ``TBackward0`` computes, when it has no hooks)."""
    (nbias, ibias), _, _ = op._edges
    exprs: list[str | None] = [None, *_mm_exprs(grad, saved, op, edges=op._edges[1:])]
    if nbias is not None:
        target = tuple(nbias._meta(ibias)[0])
        exprs[0] = _sum_expr(grad, tuple(op._shape), target, op._dtype, const)
    if type(op) is LinearAddmm and exprs[2] is not None:
        t_node = op._t_node
        if t_node is not None and (t_node._pre_hooks or t_node._post_hooks):
            return None
        exprs[2] = f"({exprs[2]}).T"
    return exprs


def _sum_expr(
    grad: str, shape: tuple[int, ...], target: tuple[int, ...], dtype: Any, const: Any
) -> str:
    """``sum_to(grad, target)`` for a gradient of ``shape``: the same calls, written out."""
    if shape == target:
        return grad
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if (
        len(shape) == 2
        and target == shape[1:]
        and dtype.char in "fd"
        and 0 < nbytes <= _GEMV_SUM_MAX_BYTES
    ):
        return f"{const(_ones(shape[0], dtype))}.dot({grad})"  # ``_sum_leading``'s gemv
    return f"_sum_to({grad}, {const(target)})"


def _mm_exprs(grad: str, saved: list[str], op: Any, edges: Any = None) -> list[str | None]:
    """``Mm.backward``: ``_mm(g, b.mT)`` and ``_mm(a.mT, g)``, with ``_mm``'s choice (a
    broadcast multiply when the inner dimension is 1) made once from the recorded shapes."""
    a, b = saved
    (na, _), (nb, _) = op._edges if edges is None else edges
    inner_g = op._shape[1]  # g has the result's shape: _mm(g, b.mT) has inner dimension g's
    exprs: list[str | None] = [None, None]
    b_t = b[:-2] if b.endswith(".T") else f"{b}.T"  # b.mT (b is often a weight's .T)
    if na is not None:
        exprs[0] = f"{grad} * {b_t}" if inner_g == 1 else f"{grad}.dot({b_t})"
    if nb is not None:
        # a.mT's inner dimension is a's rows, the result's rows
        exprs[1] = f"{a}.T * {grad}" if op._shape[0] == 1 else f"{a}.T.dot({grad})"
    return exprs
