"""``trace(tensor)``: run ``tensor.backward()`` and record what the engine did, step by step.

The engine calls an observer (``engine.backward.set_observer``) as it runs: when it takes a
node, for each hook, for each gradient it reduces to a broadcast input's shape, and once the
node's backward has run. ``_Recorder`` turns those calls into ``Step`` records, in the order
the engine ran the nodes; nothing here computes a gradient.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from tapegrad.autograd.graph_walk import Names, _Labels
from tapegrad.autograd.trace_model import (
    Accumulation,
    HookEffect,
    Send,
    Step,
    Trace,
    Value,
)
from tapegrad.autograd.trace_rules import RuleContext, rule_lines
from tapegrad.engine import backward as engine
from tapegrad.engine.node import AccumulateGrad, Node

_HIDDEN_ATTRS = {"saved", "saves", "node_name", "is_view", "needs_input_grad"}


def trace(
    tensor: Any,
    gradient: Any = None,
    retain_graph: bool | None = None,
    names: Names | None = None,
) -> Trace:
    """Run ``tensor.backward(gradient, retain_graph)`` and return what the engine did.

    Each node the engine ran becomes a ``Step``, in the order it ran: the gradient that
    arrived, the hooks (``retain_grad`` included) and what they changed, the backward rule
    with its numbers, what went to each input (and any broadcast reduction on the way), and
    for a leaf its ``.grad`` before and after. ``names`` labels tensors as ``walk`` does.
    """
    recorder = _Recorder(_Labels(names))
    root = getattr(tensor, "grad_fn", None)
    root_name = "AccumulateGrad" if root is None else root.name()
    label = recorder.labels.by_tensor.get(id(tensor))
    seed = gradient if gradient is not None else np.ones(tensor.shape, tensor._data.dtype)
    result = Trace(root_name, label, Value.of(seed))
    previous = engine.set_observer(recorder)
    try:
        tensor.backward(gradient, retain_graph=retain_graph)
    finally:
        engine.set_observer(previous)
    result.steps = recorder.finish()
    return result


class _Open:
    """A step being recorded, with what its node had before it ran."""

    __slots__ = ("step", "grad", "saved", "attrs", "retained", "fits", "outputs")

    def __init__(self, step: Step, grad: Any, saved: dict[int, Any], attrs: dict[str, Any]) -> None:
        self.step = step
        self.grad = grad  # what the node's backward gets: the arrived gradient after pre-hooks
        self.saved = saved
        self.attrs = attrs
        self.retained: dict[int, Any] = {}  # id(retain hook) -> tensor
        self.fits: list[tuple[Node | None, int, Any, Value]] = []  # (child, index, raw, summed)
        self.outputs: list[Any] | None = None  # the node's gradients, one per edge


class _Recorder:
    """The engine's observer while ``trace`` runs (see ``engine.backward._observer``)."""

    def __init__(self, labels: _Labels) -> None:
        self.labels = labels
        self.thread = threading.get_ident()
        self.steps: list[Step] = []
        self.ids: dict[int, int] = {}
        self.keep: list[Node] = []  # the nodes seen: alive, so their ids stay theirs
        self.open: dict[int, _Open] = {}

    def _mine(self) -> bool:
        return threading.get_ident() == self.thread

    def node_id(self, node: Node) -> int:
        """A small number standing for ``node`` in this trace."""
        key = id(node)
        if key not in self.ids:
            self.ids[key] = len(self.ids)
            self.keep.append(node)
        return self.ids[key]

    # ------------------------------------------------------------------ engine callbacks

    def start(self, node: Node, grad: Any) -> None:
        """The engine took ``node`` with ``grad`` (None: no gradient arrived)."""
        if not self._mine():
            return
        step = Step(
            step=len(self.steps) + 1,
            node=self.node_id(node),
            name=node.name(),
            label=self.labels.of(node),
            grad=_values(grad),
        )
        self.steps.append(step)
        current = _Open(step, grad, _saved(node), _attrs(node))
        if isinstance(node, AccumulateGrad) and grad is not None:
            variable = node.variable
            before = None if variable is None or variable._grad is None else variable._grad
            step.accumulation = Accumulation(
                step.label, None if before is None else Value.of(before), None
            )
        for _, hook in node._pre_hooks or ():
            tensor = _retained_tensor(hook)
            if tensor is not None:
                current.retained[id(hook)] = tensor
                grad_before = tensor._grad
                current.retained[-id(hook)] = None if grad_before is None else Value.of(grad_before)
        self.open[id(node)] = current
        if grad is None:
            step.sends = self._sends(node, [], current)

    def hook(self, node: Node, kind: str, index: int, fn: Any, seen: Any, result: Any) -> None:
        """A pre or post hook of ``node`` saw ``seen`` and returned ``result``."""
        current = self.open.get(id(node)) if self._mine() else None
        if current is None:
            return
        if id(fn) in current.retained:
            tensor = current.retained[id(fn)]
            grad = tensor._grad
            effect = HookEffect(
                "retain_grad",
                "retain_grad",
                False,
                seen=_values(seen),
                after=None if grad is None else Value.of(grad),
                before=current.retained[-id(fn)],
            )
        else:
            if kind == "pre" and result is not None and (node._n_out == 1 or index < 0):
                current.grad = result
            what = "post-hook" if kind == "post" else ("tensor hook" if index >= 0 else "pre-hook")
            effect = HookEffect(
                what,
                _hook_name(fn),
                result is not None,
                seen=_values(seen),
                after=None if result is None else _values(result),
            )
        current.step.hooks.append(effect)

    def fitted(self, node: Node, child: Node, index: int, before: Any, after: Any) -> None:
        """The gradient ``before`` that ``node`` sent to ``child``'s output ``index`` was
        summed to its shape (it had been broadcast): ``after``."""
        current = self.open.get(id(node)) if self._mine() else None
        if current is None:
            return
        current.fits.append((child, index, before, Value.of(after)))
        if current.outputs is not None:
            _place_fits(node, current)

    def ran(self, node: Node, grad: Any, outputs: Any) -> None:
        """``node``'s backward (with its hooks) returned ``outputs``."""
        current = self.open.get(id(node)) if self._mine() else None
        if current is None:
            return
        step = current.step
        if isinstance(node, AccumulateGrad) and grad is not None:
            variable = node.variable
            after = None if variable is None or variable._grad is None else variable._grad
            if step.accumulation is not None:
                step.accumulation.after = None if after is None else Value.of(after)
            step.rule = [_accumulate_rule(step)]
            return
        outs = list(outputs) + [None] * (len(node._edges) - len(outputs))
        # what goes to an input that needs no gradient is dropped by the engine
        outs = [None if child is None else g for (child, _), g in zip(node._edges, outs)]
        ctx = RuleContext(node, step.name, current.grad, current.saved, current.attrs, outs)
        step.rule = rule_lines(ctx)
        step.sends = self._sends(node, outs, current)
        current.outputs = outs
        _place_fits(node, current)

    # ------------------------------------------------------------------ the records

    def _sends(self, node: Node, outputs: list[Any], current: _Open) -> list[Send]:
        sends = []
        for position, (child, index) in enumerate(node._edges):
            if child is None:
                sends.append(Send(position, None))
                continue
            g = outputs[position] if position < len(outputs) else None
            sends.append(
                Send(
                    position,
                    self.node_id(child),
                    child.name(),
                    self.labels.of(child),
                    grad=None if g is None else Value.of(g),
                    to_output=index if child._n_out > 1 else None,
                )
            )
        return sends

    def finish(self) -> list[Step]:
        """The steps, each send pointing at the step its receiving node ran in."""
        ran_at = {}
        for step in self.steps:
            ran_at.setdefault(step.node, step.step)
        for step in self.steps:
            for send in step.sends:
                if send.to is not None:
                    send.to_step = ran_at.get(send.to)
        self.keep.clear()
        self.open.clear()
        return self.steps


def _place_fits(node: Node, current: _Open) -> None:
    """Put each reported reduction on the send it belongs to: the edge to that child and
    index whose gradient is the one reduced (``a + a`` has two such edges: the first free)."""
    outputs = current.outputs or []
    sends = current.step.sends
    for child, index, before, summed in current.fits:
        for position, (edge, g) in enumerate(zip(node._edges, outputs)):
            send = sends[position]
            if edge == (child, index) and g is before and send.reduced is None:
                send.reduced = summed
                break
    current.fits.clear()


def _values(grad: Any) -> Any:
    """A gradient as Values: None, one Value, or a list for several outputs."""
    if grad is None:
        return None
    if isinstance(grad, list | tuple):
        return [None if g is None else Value.of(g) for g in grad]
    return Value.of(grad)


def _accumulate_rule(step: Step) -> str:
    acc = step.accumulation
    who = (acc.label if acc else None) or "leaf"
    if acc is None or acc.after is None:
        return "the leaf is gone: nothing to accumulate into"
    if acc.before is None:
        return f"{who}.grad was None: it becomes the incoming gradient"
    before, g, after = acc.before, step.grad, acc.after
    if before.small and after.small and isinstance(g, Value) and g.small:
        return f"{who}.grad = .grad + g = {before.number()} + {g.number()} = {after.number()}"
    return f"{who}.grad = .grad + g (added in place)"


def _saved(node: Node) -> dict[int, Any]:
    """What the node saved for backward, by input position (-1: its result), before it runs
    (backward frees it)."""
    saves = getattr(node, "saves", ())
    saved = getattr(node, "saved", None) if saves else None
    if not saved:
        return {}
    return {pos: value for pos, value in zip(saves, saved) if value is not None}


def _attrs(node: Node) -> dict[str, Any]:
    """Per-op metadata (exponent, shape, alpha, min/max...) set in forward."""
    attrs = {k: v for k, v in getattr(node, "__dict__", {}).items() if not k.startswith("_")}
    for klass in type(node).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if not slot.startswith("_") and slot not in _HIDDEN_ATTRS and hasattr(node, slot):
                attrs.setdefault(slot, getattr(node, slot))
    return attrs


def _closure_value(fn: Any, name: str) -> Any:
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None)
    if code is None or not cells or name not in code.co_freevars:
        return None
    try:
        return cells[code.co_freevars.index(name)].cell_contents
    except ValueError:  # an empty cell
        return None


def _retained_tensor(hook: Any) -> Any:
    """The tensor a ``retain_grad`` hook stores into (None for any other hook)."""
    if not getattr(hook, "_retain", False):
        return None
    ref = _closure_value(hook, "ref")
    return ref() if callable(ref) else None


def _hook_name(fn: Any) -> str:
    """The user's function behind a registered hook (the wrapper closes over it)."""
    for name in ("hook", "fn"):
        user = _closure_value(fn, name)
        if callable(user):
            fn = user
            break
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
