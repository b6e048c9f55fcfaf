"""The records of a backward trace (``autograd.graph.trace``): plain data, JSON and text.

A ``Trace`` holds one ``Step`` per node the engine ran, in the order it ran them. Arrays are
kept as ``Value``: their numbers when small, shape and summary statistics otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SMALL = 16  # a gradient of at most this many elements is shown in full


def fmt(number: float) -> str:
    """A number as the trace prints it: 6 significant digits (float32's 14.415 stays 14.415)."""
    if isinstance(number, bool | int):
        return str(number)
    if math.isnan(number) or math.isinf(number):
        return str(number)
    text = f"{number:.6g}"
    return "0" if text == "-0" else text


@dataclass
class Value:
    """An array as plain data: all its numbers (``values``) when it has at most ``SMALL``
    elements, else min/max/mean/norm (``stats``)."""

    shape: list[int]
    dtype: str
    values: Any = None
    stats: dict[str, float] | None = None

    @classmethod
    def of(cls, data: Any) -> Value:
        """Summarize an array (or a Tensor, as the engine hands them when recording)."""
        array = np.asarray(getattr(data, "_data", data))
        shape, dtype = list(array.shape), array.dtype.name
        if array.size <= SMALL:
            return cls(shape, dtype, values=_plain(array))
        as_float = array.astype(np.float64)
        stats = {
            "min": float(as_float.min()),
            "max": float(as_float.max()),
            "mean": float(as_float.mean()),
            "norm": float(np.linalg.norm(as_float.ravel())),
        }
        return cls(shape, dtype, stats=stats)

    @property
    def small(self) -> bool:
        """Whether the numbers themselves are kept."""
        return self.stats is None

    def flat(self) -> list[float]:
        """The kept numbers, flattened (empty when summarized)."""
        if not self.small:
            return []
        out: list[float] = []
        stack = [self.values]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            else:
                out.append(item)
        return out

    def number(self) -> str:
        """The numbers as they appear in a formula: one number when all are equal (a 0-d
        value, or ``0.25`` for a [2, 2] of 0.25), the nested list otherwise, else the shape."""
        if not self.small:
            return "[" + ", ".join(map(str, self.shape)) + "]"
        flat = self.flat()
        if flat and all(v == flat[0] or (v != v and flat[0] != flat[0]) for v in flat):
            return fmt(flat[0])
        return _nested(flat, self.shape)

    def text(self) -> str:
        """``18.6``, ``[2, 2] all 0.25``, ``[2] [1, 2]`` or ``[100, 32] min .. norm ..``."""
        shape = "[" + ", ".join(map(str, self.shape)) + "]"
        if not self.small:
            s = self.stats or {}
            if s["min"] == s["max"]:  # e.g. the ones a sum sends back
                return f"{shape} all {fmt(s['min'])}"
            return (
                f"{shape} min {fmt(s['min'])} max {fmt(s['max'])} mean {fmt(s['mean'])} "
                f"norm {fmt(s['norm'])}"
            )
        if not self.shape:
            return self.number()
        flat = self.flat()
        number = self.number()
        if len(flat) > 1 and not number.startswith("["):
            return f"{shape} all {number}"
        return f"{shape} {number}"

    def array(self) -> np.ndarray | None:
        """The numbers back as an array (None when summarized)."""
        return np.array(self.values, dtype=self.dtype) if self.small else None


def _plain(array: np.ndarray) -> Any:
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:
        # float32's shortest repr (14.415, not 14.414999961853027), exact once cast back
        flat = [float(str(v)) for v in array.ravel()]
        return np.array(flat, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def _nested(flat: list[float], shape: list[int]) -> str:
    """``[[1, 2], [3, 4]]`` from the flat numbers and the shape."""
    if not flat:
        return "[]"
    sizes = [int(np.prod(shape[k:])) for k in range(len(shape))]
    parts = []
    for i, v in enumerate(flat):
        opens = sum(1 for size in sizes if i % size == 0)
        closes = sum(1 for size in sizes if (i + 1) % size == 0)
        parts.append("[" * opens + fmt(v) + "]" * closes)
    return ", ".join(parts)


@dataclass
class Send:
    """What a node sent to one of its inputs (``input`` is the position in its edges)."""

    input: int
    to: int | None  # the receiving node's id in the trace; None: needs no gradient
    to_name: str | None = None
    to_label: str | None = None
    grad: Value | None = None  # as the node's backward computed it; None: nothing sent
    reduced: Value | None = None  # the same summed to the input's shape (it was broadcast)
    to_step: int | None = None  # the step at which the receiving node ran
    to_output: int | None = None  # which output of the receiving node, when it has several


@dataclass
class HookEffect:
    """One hook that ran on the node: what it saw, and what it put in its place."""

    kind: str  # "retain_grad", "tensor hook", "pre-hook" or "post-hook"
    name: str
    changed: bool
    seen: Any = None  # a Value, or a list of them (post hooks see every input's gradient)
    after: Any = None  # the replacement; for retain_grad the tensor's .grad afterwards
    before: Value | None = None  # for retain_grad: the tensor's .grad before


@dataclass
class Accumulation:
    """A leaf's ``.grad`` before and after its AccumulateGrad ran (None: was None)."""

    label: str | None
    before: Value | None
    after: Value | None


@dataclass
class Step:
    """One node the engine ran: the gradient that arrived, hooks, the rule, what it sent."""

    step: int
    node: int  # an id for the node, the same in every step and send that names it
    name: str
    label: str | None = None
    grad: Any = None  # a Value (a list of them for a node with several outputs); None: none
    hooks: list[HookEffect] = field(default_factory=list)
    rule: list[str] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    accumulation: Accumulation | None = None


@dataclass
class Trace:
    """The backward pass as the engine ran it: the root, its seed gradient, the steps."""

    root: str
    root_label: str | None
    seed: Value
    steps: list[Step] = field(default_factory=list)

    def order(self) -> list[str]:
        """The node names in the order they ran."""
        return [s.name for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain data (what ``to_json`` writes)."""
        return asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        """The trace as JSON text; ``Trace.from_json`` reads it back."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        """Rebuild a trace from ``to_dict``'s data."""
        return cls(
            root=data["root"],
            root_label=data["root_label"],
            seed=Value(**data["seed"]),
            steps=[_step(s) for s in data["steps"]],
        )

    @classmethod
    def from_json(cls, text: str) -> Trace:
        """Rebuild a trace from ``to_json``'s text."""
        return cls.from_dict(json.loads(text))

    def to_text(self) -> str:
        """A step-by-step listing for a terminal."""
        from_text = f"{self.root_label} ({self.root})" if self.root_label else self.root
        lines = [f"backward from {from_text}, seed gradient {self.seed.text()}"]
        for step in self.steps:
            lines.append("")
            lines.extend(step_lines(step))
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


def _value(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, list):  # one per output of a node with several
        return [None if d is None else Value(**d) for d in data]
    return Value(**data)


def _step(data: dict[str, Any]) -> Step:
    accumulation = data["accumulation"]
    return Step(
        step=data["step"],
        node=data["node"],
        name=data["name"],
        label=data["label"],
        grad=_value(data["grad"]),
        hooks=[
            HookEffect(
                **{
                    **h,
                    "seen": _value(h["seen"]),
                    "after": _value(h["after"]),
                    "before": _value(h["before"]),
                }
            )
            for h in data["hooks"]
        ],
        rule=list(data["rule"]),
        sends=[
            Send(**{**s, "grad": _value(s["grad"]), "reduced": _value(s["reduced"])})
            for s in data["sends"]
        ],
        accumulation=None
        if accumulation is None
        else Accumulation(
            accumulation["label"], _value(accumulation["before"]), _value(accumulation["after"])
        ),
    )


# ============================================================================ text


def node_text(name: str | None, label: str | None) -> str:
    """``MulBackward0 (y)`` or ``MulBackward0``."""
    return f"{name} ({label})" if label else str(name)


def _value_text(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list):  # one per output of a node with several
        return "(" + ", ".join("None" if v is None else v.text() for v in value) + ")"
    return value.text()


def step_lines(step: Step) -> list[str]:
    """The lines of one step: head, gradient in, hooks, rule, sends, accumulation."""
    lines = [f"step {step.step}  {node_text(step.name, step.label)}"]
    if step.grad is None:
        lines.append("  no gradient arrived (every consumer sent None): nothing to do")
    else:
        lines.append(f"  gradient in  {_value_text(step.grad)}")
    lines += [f"  hook  {_hook_text(h)}" for h in step.hooks]
    lines += [f"  rule  {line}" for line in step.rule]
    lines += [f"  send  {_send_text(s)}" for s in step.sends]
    acc = step.accumulation
    if acc is not None:
        who = acc.label or "leaf"
        lines.append(f"  .grad {who}.grad: {_value_text(acc.before)} -> {_value_text(acc.after)}")
    return lines


def _hook_text(hook: HookEffect) -> str:
    if hook.kind == "retain_grad":
        return (
            f"retain_grad stores it in .grad: {_value_text(hook.before)} -> "
            f"{_value_text(hook.after)}"
        )
    if not hook.changed:
        return f"{hook.kind} {hook.name} saw {_value_text(hook.seen)}, left it unchanged"
    return (
        f"{hook.kind} {hook.name} replaced {_value_text(hook.seen)} with {_value_text(hook.after)}"
    )


def _send_text(send: Send) -> str:
    if send.to is None:
        return f"input {send.input}: needs no gradient"
    where = node_text(send.to_name, send.to_label)
    if send.to_output is not None:
        where += f" output {send.to_output}"
    if send.to_step is not None:
        where += f" (step {send.to_step})"
    if send.grad is None:
        return f"input {send.input}: nothing -> {where}"
    text = send.grad.text()
    if send.reduced is not None:
        text += f", summed over broadcast dims to {send.reduced.text()}"
    return f"input {send.input}: {text} -> {where}"
