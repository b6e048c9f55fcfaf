"""What a node's backward rule did, in words and the actual numbers, for ``trace``.

Each rule line writes the formula, the numbers that went in (when every operand is small)
and the result the engine computed: ``self: g × other = 0.25 × 3 = 0.75``. Nothing here
computes a gradient: results are the node's real outputs. Ops without a line of their own
get their description from ``graph_walk.DESCRIPTIONS`` and their results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tapegrad.autograd.graph_walk import DESCRIPTIONS, _fallback_description
from tapegrad.autograd.trace_model import Value, fmt
from tapegrad.ops.linalg import LinearAddmm

OUT = -1  # the position ops use in ``saves`` for their own result


@dataclass
class RuleContext:
    """What one node's backward had: its gradient, saved values, attributes and outputs."""

    node: Any
    name: str
    grad: Any
    saved: dict[int, Any] = field(default_factory=dict)  # by input position, OUT: result
    attrs: dict[str, Any] = field(default_factory=dict)
    outputs: list[Any] = field(default_factory=list)  # one per edge, None where none

    def out(self, position: int) -> Any:
        """The gradient computed for input ``position`` (None when none)."""
        return self.outputs[position] if position < len(self.outputs) else None


def _num(operand: Any) -> str | None:
    """An operand as a formula shows it; None when it is too large to show."""
    if isinstance(operand, str):
        return operand
    if isinstance(operand, bool | int | float | np.generic):
        return fmt(float(operand))
    value = Value.of(operand)
    return value.number() if value.small else None


def formula(label: str, template: str, operands: list[Any], result: Any) -> str:
    """``label = <template filled with the operands> = result``; without the numbers when
    an operand is large (then the result's shape and statistics)."""
    numbers = [_num(o) for o in operands]
    out = Value.of(result)
    if out.small and all(n is not None for n in numbers):
        if template == "{}":  # the gradient passed on as it is
            return f"{label} = {out.number()}"
        return f"{label} = {template.format(*numbers)} = {out.number()}"
    return f"{label} -> {out.text()}"


Rule = Callable[[RuleContext], list[str]]
_RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register the rule text for these node names."""

    def register(fn: Rule) -> Rule:
        for name in names:
            _RULES[name] = fn
        return fn

    return register


def rule_lines(ctx: RuleContext) -> list[str]:
    """The lines describing what ``ctx.node`` computed."""
    fn = _RULES.get(ctx.name)
    if fn is not None:
        try:
            return fn(ctx)
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # an op that saved or kept something unexpected: describe it generically
    return _generic(ctx)


def _generic(ctx: RuleContext) -> list[str]:
    lines = [DESCRIPTIONS.get(ctx.name, _fallback_description(ctx.name))]
    for position, out in enumerate(ctx.outputs):
        if out is not None:
            lines.append(f"input {position} -> {Value.of(out).text()}")
    return lines


# ============================================================================ arithmetic


@rule("MulBackward0")
def _mul(c: RuleContext) -> list[str]:
    lines = []
    for pos, role, other in ((0, "self", 1), (1, "other", 0)):
        if c.out(pos) is not None:
            name = "other" if other == 1 else "self"
            lines.append(
                formula(f"{role}: g × {name}", "{} × {}", [c.grad, c.saved[other]], c.out(pos))
            )
    return lines


@rule("AddBackward0", "SubBackward0")
def _add(c: RuleContext) -> list[str]:
    lines = []
    if c.out(0) is not None:
        lines.append(formula("self: g", "{}", [c.grad], c.out(0)))
    if c.out(1) is not None:
        sign = "-" if c.name == "SubBackward0" else ""
        alpha = c.attrs.get("alpha")
        if alpha is None or alpha == 1:
            lines.append(formula(f"other: {sign}g", sign + "{}", [c.grad], c.out(1)))
        else:
            label = f"other: {sign}g × alpha"
            lines.append(formula(label, sign + "{} × {}", [c.grad, alpha], c.out(1)))
    return lines


@rule("NegBackward0", "RsubBackward1")
def _neg(c: RuleContext) -> list[str]:
    return [formula("self: -g", "-{}", [c.grad], c.out(0))]


@rule("DivBackward0")
def _div(c: RuleContext) -> list[str]:
    lines = []
    if c.out(0) is not None:
        lines.append(formula("self: g / other", "{} / {}", [c.grad, c.saved[1]], c.out(0)))
    if c.out(1) is not None:
        label = "other: -g × self / other²"
        operands = [c.grad, c.saved[0], c.saved[1]]
        lines.append(formula(label, "-{} × {} / {}²", operands, c.out(1)))
    return lines


@rule("DivBackward1")
def _div_scalar(c: RuleContext) -> list[str]:
    divisor = c.attrs["divisor"]
    return [formula("self: g / divisor", "{} / {}", [c.grad, divisor], c.out(0))]


@rule("PowBackward0")
def _pow(c: RuleContext) -> list[str]:
    p = c.attrs["exponent"]
    if p == 2:
        return [formula("self: g × 2 × self", "{} × 2 × {}", [c.grad, c.saved[0]], c.out(0))]
    label = f"self: g × {fmt(p)} × self^{fmt(p - 1)}"
    template = "{} × " + fmt(p) + " × {}^" + fmt(p - 1)
    return [formula(label, template, [c.grad, c.saved[0]], c.out(0))]


# ============================================================================ reductions


@rule("MeanBackward0", "MeanBackward1")
def _mean(c: RuleContext) -> list[str]:
    shape = tuple(c.attrs["shape"])
    count = int(c.attrs["count"]) if "count" in c.attrs else int(np.prod(shape))
    where = f"each of the {count} elements averaged" if "count" in c.attrs else "every element"
    text = formula(f"self: g / {count}", "{} / " + str(count), [c.grad], c.out(0))
    return [f"{text}, to {where} of {list(shape)}"]


@rule("SumBackward0", "SumBackward1")
def _sum(c: RuleContext) -> list[str]:
    shape = list(c.attrs["shape"])
    return [formula(f"self: g copied to every summed element of {shape}", "{}", [c.grad], c.out(0))]


# ============================================================================ elementwise


@rule("ExpBackward0")
def _exp(c: RuleContext) -> list[str]:
    return [formula("self: g × result", "{} × {}", [c.grad, c.saved[OUT]], c.out(0))]


@rule("LogBackward0")
def _log(c: RuleContext) -> list[str]:
    return [formula("self: g / self", "{} / {}", [c.grad, c.saved[0]], c.out(0))]


@rule("SqrtBackward0")
def _sqrt(c: RuleContext) -> list[str]:
    return [formula("self: g / (2 × result)", "{} / (2 × {})", [c.grad, c.saved[OUT]], c.out(0))]


@rule("TanhBackward0")
def _tanh(c: RuleContext) -> list[str]:
    operands = [c.grad, c.saved[OUT]]
    return [formula("self: g × (1 - result²)", "{} × (1 - {}²)", operands, c.out(0))]


@rule("SigmoidBackward0")
def _sigmoid(c: RuleContext) -> list[str]:
    s = c.saved[OUT]
    label = "self: g × result × (1 - result)"
    return [formula(label, "{} × {} × (1 - {})", [c.grad, s, s], c.out(0))]


@rule("ReluBackward0", "ClampBackward1", "ClampMinBackward0", "ClampMaxBackward0")
def _mask(c: RuleContext) -> list[str]:
    out = c.out(0)
    if c.name == "ReluBackward0":
        where = "where the result was > 0"
    else:
        low, high = c.attrs.get("min"), c.attrs.get("max")
        bounds = " ≤ ".join(
            part for part in (_bound(low), "self", _bound(high)) if part is not None
        )
        where = f"where {bounds}"
    kept = ""
    if out is not None:
        mask = np.asarray(out) != 0
        kept = f" ({int(mask.sum())} of {mask.size} nonzero)"
    return [f"{formula(f'self: g {where}, 0 elsewhere', '{}', [c.grad], out)}{kept}"]


def _bound(value: Any) -> str | None:
    return None if value is None else fmt(float(np.asarray(value).max()))


# ============================================================================ matrices, loss


@rule("MmBackward0")
def _mm(c: RuleContext) -> list[str]:
    lines = []
    if c.out(0) is not None:
        lines.append(
            formula("self: g @ otherᵀ", "{} @ {}", [c.grad, np.asarray(c.saved[1]).T], c.out(0))
        )
    if c.out(1) is not None:
        lines.append(
            formula("other: selfᵀ @ g", "{} @ {}", [np.asarray(c.saved[0]).T, c.grad], c.out(1))
        )
    return lines


@rule("AddmmBackward0")
def _addmm(c: RuleContext) -> list[str]:
    lines = []
    if c.out(0) is not None:
        lines.append(formula("bias: g summed over the rows", "{}", [c.grad], c.out(0)))
    if c.out(1) is not None:
        mat2_t = np.asarray(c.saved[2]).T
        lines.append(formula("mat1: g @ mat2ᵀ", "{} @ {}", [c.grad, mat2_t], c.out(1)))
    if c.out(2) is not None:
        mat1_t = np.asarray(c.saved[1]).T
        if isinstance(c.node, LinearAddmm):  # the weight's TBackward0 is folded in
            label = "weight: (mat1ᵀ @ g)ᵀ, TBackward0 folded in"
            lines.append(formula(label, "({} @ {})ᵀ", [mat1_t, c.grad], c.out(2)))
        else:
            lines.append(formula("mat2: mat1ᵀ @ g", "{} @ {}", [mat1_t, c.grad], c.out(2)))
    return lines


@rule("MseLossBackward0")
def _mse(c: RuleContext) -> list[str]:
    a, t = c.saved[0], c.saved[1]
    size = int(np.asarray(a).size)
    mean = c.attrs.get("reduction") == "mean" and size
    norm = f"2 / {size}" if mean else "2"
    lines = []
    for pos, role, first, second in ((0, "self", a, t), (1, "target", t, a)):
        if c.out(pos) is not None:
            label = f"{role}: ({role} - {'target' if pos == 0 else 'self'}) × {norm} × g"
            template = "({} - {}) × " + norm + " × {}"
            lines.append(formula(label, template, [first, second, c.grad], c.out(pos)))
    return lines


_SHAPE_RULES = {
    "ViewBackward0": "reshaped back to",
    "UnsafeViewBackward0": "reshaped back to",
    "ExpandBackward0": "summed over the expanded dims to",
    "TBackward0": "transposed back to",
    "TransposeBackward0": "transposed back to",
    "PermuteBackward0": "permuted back to",
    "SqueezeBackward0": "unsqueezed back to",
    "SqueezeBackward1": "unsqueezed back to",
    "UnsqueezeBackward0": "squeezed back to",
    "CloneBackward0": "passed through unchanged:",
    "AliasBackward0": "passed through unchanged:",
}


def _shape_rule(c: RuleContext) -> list[str]:
    out = c.out(0)
    if out is None:
        return []
    return [formula(f"self: g {_SHAPE_RULES[c.name]} {list(np.shape(out))}", "{}", [c.grad], out)]


for _name in _SHAPE_RULES:
    rule(_name)(_shape_rule)
