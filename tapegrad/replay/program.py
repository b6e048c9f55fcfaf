"""Record one step and turn it into a replayable program (one generated Python function)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tapegrad.engine import anomaly, grad_mode
from tapegrad.factories import default_generator
from tapegrad.replay.backward_trace import XP, fit, new_grad
from tapegrad.replay.guards import TooMuchState, build_guard
from tapegrad.replay.kernels import RUNTIME
from tapegrad.replay.patches import recording_into
from tapegrad.replay.recorder import Recorder
from tapegrad.replay.source import make_function
from tapegrad.tensor import Tensor, _wrap


@dataclass
class Program:
    """A recorded step: ``guard(args, kwargs)`` says whether it may replay; ``run()`` does."""

    guard: Callable[[tuple[Any, ...], dict[str, Any]], bool]
    run: (
        Callable[[tuple[Any, ...], dict[str, Any]], Any] | None
    )  # None: the step runs eagerly (``source`` says why)
    grad_enabled: bool
    source: str


def _fresh(array: np.ndarray) -> Tensor:
    return _wrap(array.copy())


_RUNTIME = {
    "_XP": XP,
    "_fit": fit,
    "_new_grad": new_grad,
    "_add": np.add,
    "_asarray": np.asarray,
    "_fresh": _fresh,
    **RUNTIME,
}


def record(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    read_when_run: frozenset[int] = frozenset(),
) -> tuple[Any, Program | str]:
    """Run ``fn`` eagerly while recording it: its result, and the program (or why there is
    none). ``read_when_run``: see ``GuardBuilder``."""
    grad_enabled = grad_mode._state.enabled
    try:
        guard = build_guard(fn, args, kwargs, read_when_run)
    except (TooMuchState, RecursionError) as exc:
        return fn(*args, **kwargs), f"guards: {exc}"
    rec = Recorder(guard.tensors, guard.data_args, frozenset(guard.seen), guard.entry_grads)
    generator = default_generator()
    state = generator.bit_generator.state
    with recording_into(rec):
        result = fn(*args, **kwargs)
    if anomaly._state.enabled:
        rec.fail("anomaly mode")
    if not _random_state_explained(generator, state, rec.draws):
        rec.fail("the step seeds or draws random numbers outside its recorded ops")
    rec.check_versions()
    returned = _returned(rec, result)
    if rec.unsupported is not None:
        return result, Program(guard.compile(), None, grad_enabled, rec.unsupported)
    lines = finish(rec.lines, rec.tags, returned)
    source = "def _replay(_args, _kwargs):\n" + "".join(f"    {line}\n" for line in lines)
    source += f"    return {returned}\n"
    namespace = dict(_RUNTIME, **rec.consts)
    run = make_function(source, "_replay", namespace, "<tapegrad.compile replay>")
    return result, Program(guard.compile(), run, grad_enabled, source)


def _random_state_explained(generator: Any, state: dict, draws: list[Any]) -> bool:
    """Whether the default generator is the one the step started with, moved on by exactly
    the draws the program makes again (dropout masks): a seed or a draw anywhere else in the
    step would not be replayed, and later random numbers would differ from eager's."""
    if default_generator() is not generator:
        return False
    after = generator.bit_generator.state
    if not draws:
        return after == state
    bits = type(generator.bit_generator)()
    bits.state = state
    again = np.random.Generator(bits)
    for shape in draws:
        again.random(shape)
    return bool(again.bit_generator.state == after)


_VAR = re.compile(r"\bv\d+\b")
_BINARY = re.compile(r"^(\s*)(v\d+) = (v\d+) ([-+*]) (.+)$")
_OPERAND = re.compile(r"^[cv]\d+(\.T)?$")


def in_place(lines: list[str], tags: list[Any], returned: str) -> list[str]:
    """``finish`` without the ``del`` lines (what the in-place rewrite alone does)."""
    return [line for line in finish(lines, tags, returned) if not line.lstrip().startswith("del ")]


def finish(lines: list[str], tags: list[Any], returned: str) -> list[str]:
    """The program's lines, rewritten in one pass over them:

    - ``v = a + b`` (``-``, ``*``) is computed into ``a`` where ``a`` dies there: an array an
      inline expression made, of the result's shape and dtype, only ever read by inline
      expressions (nothing else can hold it or a view of it). The same operation into an
      existing buffer, so the same numbers, without allocating (the hand-written loop's
      ``h += b``).
    - each variable is deleted after its last use, so the replay frees an activation or a
      gradient as soon as eager would (a big workload's peak memory).
    """
    uses: dict[str, list[int]] = {}
    findall = _VAR.findall
    for i, line in enumerate(lines):
        for name in findall(line):
            where = uses.get(name)
            if where is None:
                uses[name] = [i]
            elif where[-1] != i:
                where.append(i)
    kept = set(_VAR.findall(returned))
    dying: dict[int, list[str]] = {}
    for name, where in uses.items():
        if name not in kept:
            dying.setdefault(where[-1], []).append(name)
    out: list[str] = []
    for i, line in enumerate(lines):
        match = None
        if isinstance(tags[i], tuple):  # a new array from an inline expression
            match = _BINARY.match(line) or _BINARY.match(_commuted(line))
        if match is not None and _reusable(match, i, lines, tags, uses, kept):
            indent, target, left, op, right = match.groups()
            out += [f"{indent}{left} {op}= {right}", f"{indent}{target} = {left}"]
        else:
            out.append(line)
        if i in dying:
            indent = line[: len(line) - len(line.lstrip())]
            if line.rstrip().endswith(":"):
                indent += "    "
            out.append(f"{indent}del {', '.join(sorted(dying[i]))}")
    return out


_COMMUTING = re.compile(r"^(\s*)(v\d+) = ([cv]\d+(?:\.T)?) ([+*]) (v\d+)$")


def _commuted(line: str) -> str:
    """``v = c * a`` as ``v = a * c`` (IEEE sums and products commute exactly), else ''."""
    match = _COMMUTING.match(line)
    if match is None:
        return ""
    indent, target, left, op, right = match.groups()
    return f"{indent}{target} = {right} {op} {left}"


def _reusable(
    match: re.Match[str],
    i: int,
    lines: list[str],
    tags: list[Any],
    uses: dict[str, list[int]],
    kept: set[str],
) -> bool:
    _, _, left, _, right = match.groups()
    where = uses[left]
    first = where[0]
    return (
        isinstance(tags[i], tuple)
        and left not in kept
        and where[-1] == i  # its last use
        and left not in _VAR.findall(right)
        and (_OPERAND.match(right) is not None or _one_group(right))
        and lines[first].lstrip().startswith(f"{left} = ")
        and tags[first] == tags[i]  # made inline, with the result's shape and dtype
        and all(tags[j] is not None for j in where[1:-1])  # only read in between
    )


def _one_group(text: str) -> bool:
    """Whether ``text`` is one parenthesized group (so ``a op= text`` is ``a op (text)``)."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for k, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and k < len(text) - 1:
            return False
    return True


def _returned(rec: Recorder, value: Any) -> str:
    """The expression giving what the step returns (fresh tensors for those it made)."""
    if isinstance(value, Tensor):
        if rec.is_produced(value):
            return f"_fresh({rec.tensor_name(value)})"
        if id(value) in rec.walked:
            return rec.const(value)
        if id(value) in rec.data_args:
            return rec.data_args[id(value)][1]
        name = rec.array_name(value._data)
        if name is not None and name.startswith("v"):
            return f"_fresh({name})"  # a tensor on a recorded array (``detach()``)
        rec.fail("the step returns a tensor made outside the recorded operations")
        return "None"
    if type(value) in (int, float, bool, str, type(None)):
        return rec.const(value)
    if isinstance(value, tuple | list):
        items = "".join(f"{_returned(rec, item)}, " for item in value)
        return f"({items})" if isinstance(value, tuple) else f"[{items}]"
    if isinstance(value, dict) and all(type(k) in (int, str) for k in value):
        return "{" + "".join(f"{k!r}: {_returned(rec, v)}, " for k, v in value.items()) + "}"
    rec.fail(f"the step returns a {type(value).__name__}")
    return "None"
