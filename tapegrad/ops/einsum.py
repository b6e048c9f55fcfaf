"""einsum: Einstein summation over tensors, parsed and checked as torch parses it, and
computed from differentiable ops (diagonal for repeated subscripts, sum, permute, reshape,
expand and matmul for each pair of operands), so gradients of every order follow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._array import _type_name
from tapegrad._dtypes import _scalar_type_name
from tapegrad.ops.declare import declare
from tapegrad.ops.samples import OpInfo, fixed
from tapegrad.tensor import Tensor

LETTERS = 52  # A-Z are labels 0-25, a-z 26-51; dims under an ellipsis get 52, 53...
NO_OPERANDS = (
    "einsum(): must specify the equation string and at least one operand, or at least one "
    "operand and its subscripts list"
)


def _label(c: str) -> int:
    return ord(c) - ord("A") if c.isupper() else 26 + ord(c) - ord("a")


def _letter(label: int) -> str:
    return chr(ord("A") + label) if label < 26 else chr(ord("a") + label - 26)


def _is_subscript(c: str) -> bool:
    return c.isascii() and c.isalpha()


# ---------------------------------------------------------------------- parsing


def _parse_inputs(lhs: str, n_ops: int) -> list[list[int | None]]:
    """The labels of each operand (None stands for its ellipsis), in torch's order of checks."""
    terms: list[list[int | None]] = [[]]
    found_ellipsis = False
    i = 0
    while i < len(lhs):
        c = lhs[i]
        if c == ",":
            if len(terms) == n_ops:
                raise RuntimeError(
                    "einsum(): fewer operands were provided than specified in the equation"
                )
            terms.append([])
            found_ellipsis = False
        elif c == ".":
            op = len(terms) - 1
            if found_ellipsis:
                raise RuntimeError(
                    f"einsum(): found '.' for operand {op} for which an ellipsis was already found"
                )
            if lhs[i : i + 3] != "...":
                raise RuntimeError(
                    f"einsum(): found '.' for operand {op} that is not part of any ellipsis"
                )
            terms[-1].append(None)
            found_ellipsis = True
            i += 2
        elif c != " ":
            if not _is_subscript(c):
                raise RuntimeError(
                    f"einsum(): invalid subscript given at index {i} in the equation string, "
                    "subscripts must be in [a-zA-Z]"
                )
            terms[-1].append(_label(c))
        i += 1
    if len(terms) < n_ops:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    return terms


def _ellipsis_dims(terms: list[list[int | None]], operands: Sequence[Tensor]) -> int:
    """How many dims the ellipsis stands for (the most of any operand), checking each
    operand's number of subscripts against its dims."""
    most = 0
    for i, (labels, t) in enumerate(zip(terms, operands)):
        named = sum(label is not None for label in labels)
        if None in labels:
            if named > t.ndim:
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({named}) is more than "
                    f"the number of dimensions ({t.ndim}) for operand {i}"
                )
            most = max(most, t.ndim - named)
        elif named != t.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({named}) does not match "
                f"the number of dimensions ({t.ndim}) for operand {i} and no ellipsis was given"
            )
    return most


def _parse_output(rhs: str | None, offset: int, counts: dict[int, int], ell: int) -> list[int]:
    """The output's labels: as written after ``->``, else the ellipsis then each label that
    appears once, in order (A-Z before a-z)."""
    ell_labels = list(range(LETTERS, LETTERS + ell))
    if rhs is None:
        return ell_labels + sorted(label for label, n in counts.items() if n == 1)
    out: list[int] = []
    found_ellipsis = False
    i = 0
    while i < len(rhs):
        c = rhs[i]
        if c == ".":
            if found_ellipsis:
                raise RuntimeError(
                    "einsum(): found '.' for output but an ellipsis (...) was already found"
                )
            if rhs[i : i + 3] != "...":
                raise RuntimeError(
                    "einsum(): found '.' for output that is not part of any ellipsis (...)"
                )
            out += ell_labels
            found_ellipsis = True
            i += 2
        elif c != " ":
            if not _is_subscript(c):
                raise RuntimeError(
                    f"einsum(): invalid subscript given at index {offset + i} in the equation "
                    "string, subscripts must be in [a-zA-Z]"
                )
            label = _label(c)
            if not counts.get(label) or label in out:
                why = (
                    "appears more than once in the output"
                    if label in out
                    else ("does not appear in the equation for any input operand")
                )
                raise RuntimeError(f"einsum(): output subscript {c} {why}")
            out.append(label)
        i += 1
    return out


def _expand_ellipsis(labels: list[int | None], ndim: int, ell: int) -> list[int]:
    """An operand's labels with its ellipsis replaced by the labels of the dims it covers
    (aligned to the right of all ellipsis dims, as broadcasting aligns them)."""
    if None not in labels:
        return list(labels)  # type: ignore[arg-type]
    k = labels.index(None)
    covered = ndim - (len(labels) - 1)
    ell_labels = list(range(LETTERS + ell - covered, LETTERS + ell))
    return labels[:k] + ell_labels + labels[k + 1 :]  # type: ignore[operator]


def _check_sizes(operands: Sequence[Tensor], labelled: list[list[int]], ell: int) -> None:
    """Each label's sizes must agree within an operand and broadcast across operands."""
    seen: dict[int, int] = {}
    for i, (t, labels) in enumerate(zip(operands, labelled)):
        mine: dict[int, int] = {}
        for label, size in zip(labels, t.shape):
            if label in mine:
                if size != mine[label]:
                    raise RuntimeError(
                        f"einsum(): subscript {_letter(label)} is repeated for operand {i} but "
                        f"the sizes don't match, {size} != {mine[label]}"
                    )
                continue
            mine[label] = size
            before = seen.get(label)
            if before is not None and before != size and 1 not in (before, size):
                if label >= LETTERS:
                    raise RuntimeError(
                        f"einsum(): dimension {label - LETTERS} covered by ellipsis in operand "
                        f"{i}has size {size} which does not broadcast with previously seen "
                        "ellipsis with size "
                        f"{before} for the respective dimension"
                    )
                raise RuntimeError(
                    f"einsum(): subscript {_letter(label)} has size {size} for operand {i} which "
                    f"does not broadcast with previously seen size {before}"
                )
            if before is None or before == 1:
                seen[label] = size


# ------------------------------------------------------------------ computation


def _take_diagonals(t: Tensor, labels: list[int]) -> tuple[Tensor, list[int]]:
    """Repeated labels of one operand: keep only their diagonal (as the last dim)."""
    labels = list(labels)
    for label in list(dict.fromkeys(labels)):
        while labels.count(label) > 1:
            d1 = labels.index(label)
            d2 = labels.index(label, d1 + 1)
            t = t.diagonal(0, d1, d2)
            labels = [x for j, x in enumerate(labels) if j not in (d1, d2)] + [label]
    return t, labels


def _sum_out(t: Tensor, labels: list[int], keep: set[int]) -> tuple[Tensor, list[int]]:
    dims = tuple(d for d, label in enumerate(labels) if label not in keep)
    if not dims:
        return t, labels
    return t.sum(dims), [label for label in labels if label in keep]


def _contract(
    a: Tensor, la: list[int], b: Tensor, lb: list[int], keep: set[int]
) -> tuple[Tensor, list[int]]:
    """Multiply two operands and sum the labels they share but ``keep`` does not hold, as one
    (batched) matmul: (batch, left, inner) @ (batch, inner, right)."""
    a, la = _sum_out(a, la, keep | set(lb))
    b, lb = _sum_out(b, lb, keep | set(la))
    inner = [x for x in la if x in lb and x not in keep]
    for x in inner:  # size 1 on one side broadcasts: sum the other side over it first
        sa, sb = a.shape[la.index(x)], b.shape[lb.index(x)]
        if sa != sb and sa == 1:
            b = b.sum(lb.index(x), keepdim=True)
        elif sa != sb:
            a = a.sum(la.index(x), keepdim=True)
    size = dict(zip(la, a.shape))
    for x, s in zip(lb, b.shape):
        size[x] = s if size.get(x, 1) == 1 else size[x]
    batch = [x for x in la if x in lb and x in keep]
    left = [x for x in la if x not in lb]
    right = [x for x in lb if x not in la]
    a = _arrange(a, la, batch + left + inner, size, batch)
    b = _arrange(b, lb, batch + inner + right, size, batch)
    bshape = tuple(size[x] for x in batch)
    n_inner = math.prod(size[x] for x in inner)
    a = a.reshape(bshape + (math.prod(size[x] for x in left), n_inner))
    b = b.reshape(bshape + (n_inner, math.prod(size[x] for x in right)))
    out = a.matmul(b).reshape(bshape + tuple(size[x] for x in left + right))
    return out, batch + left + right


def _arrange(
    t: Tensor, labels: list[int], order: list[int], size: dict[int, int], batch: list[int]
) -> Tensor:
    """Permute ``t`` to ``order`` and expand its size-1 batch dims to the common size."""
    t = t.permute([labels.index(x) for x in order])
    target = tuple(size[x] if x in batch else s for x, s in zip(order, t.shape))
    return t if target == t.shape else t.expand(target)


def _evaluate(operands: Sequence[Tensor], labelled: list[list[int]], out: list[int]) -> Tensor:
    keep_after = [set(out)]
    for labels in reversed(labelled[1:]):
        keep_after.insert(0, keep_after[0] | set(labels))
    result, labels = _take_diagonals(operands[0], labelled[0])
    result, labels = _sum_out(result, labels, keep_after[0])
    for t, lb, keep in zip(operands[1:], labelled[1:], keep_after[1:]):
        t, lb = _take_diagonals(t, lb)
        result, labels = _contract(result, labels, t, lb, keep)
    if labels == out and result is not operands[0]:
        return result
    return result.permute([labels.index(x) for x in out])


# ---------------------------------------------------------------------- einsum


def _from_sublists(args: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """torch's ``einsum(op0, sublist0, op1, sublist1, ..., [out_sublist])`` as an equation."""

    def term(sublist: Sequence[Any]) -> str:
        parts = []
        for s in sublist:
            if s is Ellipsis:
                parts.append("...")
            elif not 0 <= s < LETTERS:
                raise ValueError(
                    "einsum(): subscript in subscript list is not within the valid range [0, 52)"
                )
            else:
                parts.append(_letter(s))
        return "".join(parts)

    operands = list(args[0::2][: len(args) // 2])
    equation = ",".join(term(s) for s in args[1::2][: len(operands)])
    if len(args) % 2:
        equation += "->" + term(args[-1])
    return equation, operands


@declare(
    method=False,
    tests=[
        OpInfo(
            "einsum",
            "ViewBackward0",
            lambda ns, *ts, equation: ns.einsum(equation, *ts),
            lambda *arrays, equation: np.einsum(equation, *arrays),
            fixed(
                (((3, 4), (4, 5)), "matmul", {"equation": "ij,jk->ik"}),
                (((2, 3, 4), (2, 4, 5)), "batched matmul", {"equation": "bij,bjk->bik"}),
                (((3, 4),), "transpose", {"equation": "ij->ji"}),
                (((3, 4),), "sum all", {"equation": "ij->"}),
                (((3, 4), (3, 4)), "implicit output", {"equation": "ij,ij"}),
                (((2, 3, 4), (4,)), "ellipsis", {"equation": "...j,j->..."}),
                (((3, 3, 2),), "trace over two dims", {"equation": "iij->j"}),
                (((2, 3), (3, 4), (4, 2)), "three operands", {"equation": "ij,jk,kl->il"}),
                (((1, 3, 4), (2, 4, 5)), "broadcast batch", {"equation": "bij,bjk->bik"}),
                (((3, 1), (3, 4)), "broadcast contracted", {"equation": "ij,ij->"}),
            ),
        ),
    ],
)
def einsum(*args: Any) -> Tensor:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)``; operands may also come as one
    list, or in torch's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``."""
    if args and isinstance(args[0], Tensor):
        equation, operands = _from_sublists(args)
    elif not args:
        raise TypeError("einsum(): missing 1 required positional argument: 'equation'")
    else:
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], list | tuple):
            operands = list(operands[0])
    if not operands:
        raise ValueError(NO_OPERANDS)
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 1, but got {_type_name(t)}"
            )
    return _einsum(equation, operands)


def _einsum(equation: str, operands: list[Tensor]) -> Tensor:
    arrow = equation.find("->")
    lhs = equation if arrow < 0 else equation[:arrow]
    rhs = None if arrow < 0 else equation[arrow + 2 :]
    terms = _parse_inputs(lhs, len(operands))
    ell = _ellipsis_dims(terms, operands)
    counts: dict[int, int] = {}
    for labels in terms:
        for label in labels:
            if label is not None:
                counts[label] = counts.get(label, 0) + 1
    out = _parse_output(rhs, len(lhs) + 2, counts, ell)
    labelled = [_expand_ellipsis(labels, t.ndim, ell) for labels, t in zip(terms, operands)]
    _check_sizes(operands, labelled, ell)
    first = operands[0]._data.dtype
    for t in operands[1:]:
        if t._data.dtype != first:
            raise RuntimeError(
                f"expected scalar type {_scalar_type_name(first)} but found "
                f"{_scalar_type_name(t._data.dtype)}"
            )
    return _evaluate(operands, labelled, out)
