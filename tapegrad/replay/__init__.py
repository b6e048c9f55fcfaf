"""``tapegrad.compile``: record a training step once, then replay it as plain numpy calls.

The first call of a compiled step runs eagerly; the second runs eagerly while recording what
it does (the forward ops, the backward pass the engine runs, the updates under ``no_grad``,
``zero_()``, ``.grad = None``, and ``optimizer.step()``, which each replay calls again: it reads
the optimizer's state when it runs), together with guards on everything the step can reach.
Later calls whose guards hold replay the recording: one generated function evaluating each
op's own numpy code on the step's arrays (the common ops inline, see ``kernels``), with the
backward planned once (the engine's order and sums, a bias gradient as ``ones.dot(g)``, the
gradients of the loss's constant seed folded). A failing guard records again (up to
``MAX_PROGRAMS`` programs are kept, so a smaller last batch does not thrash); what the recorder
cannot express (hooks, ``retain_grad``, anomaly mode, ``create_graph``, ``autograd.grad``,
custom Functions, random or stateful ops, ``.item()``/``.numpy()`` inside the step, in-place
changes recorded in the graph, tensors changed by code it does not see) makes the step run
eagerly. ``callback(fn, *tensors)`` calls ``fn`` on arrays at that point of every replay.

What is guarded, before each replay: the grad mode; the arguments (a tensor that needs no
gradient by type, shape and dtype: each call may pass a new batch; anything else as below);
and everything reachable from the step function (closure cells, the globals its code loads,
defaults; into functions, bound methods, lists, tuples, dicts and objects' ``__dict__``, six
levels deep): numbers and strings by value, other objects by identity, containers also by
length, tensors by their array, ``requires_grad``, ``grad_fn``, version counter and hooks, and
their ``.grad`` by kind, shape and dtype (its array is read when the replay starts). Not
guarded: state deeper than that, an optimizer's ``state`` (``_replay_unguarded``), numpy
arrays' contents (a replay reads them, as eager would) and writes into a tensor's numpy array
made inside the step without a tensor operation. Returned tensors are fresh copies without
``grad_fn``.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tapegrad.engine import anomaly, grad_mode
from tapegrad.replay import patches
from tapegrad.replay.patches import callback, replayed_by_calling
from tapegrad.replay.program import Program, record

F = TypeVar("F", bound=Callable[..., Any])

MAX_PROGRAMS = 4  # kept per compiled step, most recently used first
MAX_RECORDINGS = 16  # recordings with no replay in between before a step stays eager


class CompiledStep:
    """A step under ``tapegrad.compile``: call it as the step itself."""

    def __init__(self, fn: Callable[..., Any], read_when_run: Sequence[Any] = ()) -> None:
        """``read_when_run``: objects (an optimizer, ``tapegrad train``'s update rule) whose
        ``_replay_read_when_run`` attributes (``param_groups``) the step reads only through
        their replayed methods (``step``), which read them when they run: those attributes
        are not guarded, so a learning rate changed between steps needs no new recording."""
        self.fn = fn
        self._read_when_run = list(read_when_run)  # held: their ids stay theirs
        self.programs: list[Program] = []
        self.calls = 0
        self.replays = 0
        self.recordings = 0
        self._misses = 0
        self.eager_reason: str | None = None  # why the last recording was refused
        self.disabled = False
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the step: replayed when a recorded program's guards hold, else eagerly."""
        self.calls += 1
        if self.disabled or patches._active or anomaly._state.enabled or self.calls == 1:
            return self.fn(*args, **kwargs)
        enabled = grad_mode._state.enabled
        for i, program in enumerate(self.programs):
            if program.grad_enabled is enabled and program.guard(args, kwargs):
                if i:
                    self.programs.insert(0, self.programs.pop(i))
                if program.run is None:
                    return self.fn(*args, **kwargs)
                self.replays += 1
                self._misses = 0
                return program.run(args, kwargs)
        return self._record(args, kwargs)

    def _record(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.recordings += 1
        self._misses += 1
        if self._misses > MAX_RECORDINGS:
            self.disabled = True
            self.eager_reason = "the guards fail on every call"
        # the recording allocates thousands of short-lived objects (source, code, checks):
        # with the cyclic collector paused they cannot set off a full collection of the heap
        paused = gc.isenabled()
        gc.disable()
        try:
            ids = frozenset(id(obj) for obj in self._read_when_run)
            result, program = record(self.fn, args, kwargs, ids)
        finally:
            if paused:
                gc.enable()
        if isinstance(program, str):
            self.eager_reason = program
            return result
        if program.run is None:
            self.eager_reason = program.source
        self.programs.insert(0, program)
        del self.programs[MAX_PROGRAMS:]
        return result


def compile(fn: F) -> F:  # noqa: A001 - torch's name
    """Compile a training step (also usable as ``@tapegrad.compile``)."""
    return CompiledStep(fn)  # type: ignore[return-value]


__all__ = ["CompiledStep", "callback", "compile", "replayed_by_calling"]
