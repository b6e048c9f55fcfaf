"""The recorder: what one eager run of a step did, as lines of Python over numpy arrays.

Each forward op becomes ``v = op.forward(...)`` on the arrays of its inputs, each in-place
change ``kernel(target, other, target)`` plus the version bump eager makes; arrays of tensors
that existed before the step (found by the guard walk) are constants, the others variables.
Whatever the recorder cannot express marks the recording unsupported (``fail``): the step then
runs eagerly.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import Any

import numpy as np

from tapegrad.ops.base import HoldingOp, Op
from tapegrad.ops.copying import _fill_kernel
from tapegrad.ops.linalg import LinearAddmm
from tapegrad.ops.pointwise import Clamp
from tapegrad.replay.kernels import DETERMINISTIC, forward_expr, inplace_line
from tapegrad.tensor import Tensor

_VALUE_TYPES = (int, float, bool, str, type(None))
_META_TYPES = (int, float, bool, str, type(None), np.dtype, type)


class Recorder:
    """Collects the replay program's lines while the step runs eagerly."""

    def __init__(
        self,
        walked: dict[int, Tensor],
        data_args: dict[int, tuple[Tensor, str]] | None = None,
        guarded: frozenset[int] = frozenset(),
        entry_grads: dict[int, tuple[Tensor, Tensor]] | None = None,
    ) -> None:
        self.walked = walked
        self.entry_grads = entry_grads or {}
        # their version counters, by id: the tensor whose .grad it is, and the start value
        self.entry_vcs = {id(t._vc): (owner, t._vc[0]) for t, owner in self.entry_grads.values()}
        self.entry_names: dict[tuple[int, str], str] = {}
        self.guarded = guarded  # ids of every object the guards hold by identity
        self.depth = 0  # > 0 inside a method the replay calls again (nothing is recorded)
        self.thread = threading.get_ident()  # the recording thread: others are not recorded
        self.data_args = data_args or {}
        self.arg_names: dict[int, str] = {}
        self.walked_vcs = {id(t._vc): t._vc for t in walked.values()}
        self.entry_versions = {key: vc[0] for key, vc in self.walked_vcs.items()}
        self.bumps: dict[int, int] = {}
        self.produced_versions: list[tuple[list[int], int, int]] = []
        self.lines: list[str] = []
        # per line: READS (it only reads its variables), or the (shape, dtype) of the new
        # array an inline expression makes (``program.in_place`` may reuse a dying operand)
        self.tags: list[Any] = []
        self.consts: dict[str, Any] = {}
        # by id, with a weak reference that tells a live object from a later one with its id
        # (holding them would keep every activation alive until the recording ends)
        self.names: dict[int, tuple[str, Any]] = {}
        self.produced: dict[int, Any] = {}
        self.ops: dict[int, tuple[list[str], str]] = {}
        self.masks: dict[int, str] = {}  # clamp op id: the name of its backward mask
        self.draws: list[Any] = []  # shapes the program draws from the default generator
        self.unsupported: str | None = None
        self.indent = ""
        self._n = 0

    # ------------------------------------------------------------------ helpers

    @property
    def paused(self) -> bool:
        """Whether what runs now is not recorded: inside a method the replay calls again, or
        on another thread (tapegrad's entry points are swapped for every thread)."""
        return self.depth > 0 or threading.get_ident() != self.thread

    def fail(self, reason: str) -> None:
        """Mark the step as one that cannot be replayed (the first reason is kept)."""
        if self.unsupported is None:
            self.unsupported = reason

    def const(self, value: Any) -> str:
        """A name for a constant of the program."""
        self._n += 1
        name = f"c{self._n}"
        self.consts[name] = value
        return name

    def var(self) -> str:
        """A fresh variable name."""
        self._n += 1
        return f"v{self._n}"

    def emit(self, line: str, tag: Any = None) -> None:
        """Append a line of the program (``tag``: see ``tags``; None: it may keep or alias
        the arrays it is given)."""
        self.lines.append(self.indent + line)
        self.tags.append(tag)

    def emit_first(self, line: str) -> None:
        """Put a line at the start of the program (reading an argument when it starts)."""
        self.lines.insert(0, line)
        self.tags.insert(0, None)

    def name_array(self, array: np.ndarray, name: str) -> None:
        """``array`` is held by the program's ``name`` from here on."""
        self.names[id(array)] = (name, weakref.ref(array))

    def array_name(self, array: Any) -> str | None:
        """The program's name for ``array`` (None when it has none)."""
        entry = self.names.get(id(array))
        return entry[0] if entry is not None and entry[1]() is array else None

    def is_produced(self, t: Any) -> bool:
        """Whether ``t`` was made by a recorded operation."""
        ref = self.produced.get(id(t))
        return ref is not None and ref() is t

    def produce(self, t: Tensor, name: str) -> None:
        """``t`` was made by a recorded operation; its array is ``name``."""
        self.produced[id(t)] = weakref.ref(t)
        vc = t._vc
        self.produced_versions.append((vc, vc[0], self.bumps.get(id(vc), 0)))
        self.name_array(t._data, name)

    def tensor_name(self, t: Tensor) -> str:
        """The program's name for ``t``'s array: a variable, or a guarded constant."""
        name = self.array_name(t._data)
        if self.is_produced(t):
            if name is None:
                self.fail("a recorded tensor's .data was replaced inside the step")
                return "None"
            return name
        if id(t) in self.data_args:
            name = self.arg_names.get(id(t))
            if name is None:  # read once, at the start: a new batch each call
                name = self.arg_names[id(t)] = self.var()
                self.emit_first(f"{name} = {self.data_args[id(t)][1]}._data")
            return name
        if id(t) in self.entry_grads and id(t) not in self.walked:
            return self._entry_name(id(t), "_data")
        if id(t) not in self.walked:
            if name is not None:
                return name  # another tensor on a known array (``detach()``, ``.data``)
            self.fail("the step uses a tensor made outside the recorded operations")
            return "None"
        if name is None:
            name = self.const(t._data)
            self.name_array(t._data, name)
        return name

    def _entry_name(self, key: int, attr: str) -> str:
        """A variable holding ``attr`` of an entry gradient, read when the replay starts."""
        name = self.entry_names.get((key, attr))
        if name is None:
            grad = self.entry_grads.get(key)
            owner = grad[1] if grad is not None else self.entry_vcs[key][0]
            name = self.entry_names[key, attr] = self.var()
            self.emit_first(f"{name} = {self.const(owner)}._grad.{attr}")
            if grad is not None and attr == "_data":
                self.name_array(grad[0]._data, name)
        return name

    def operand(self, value: Any, array: Any) -> str:
        """The program's expression for one input of an op (its tensor and its array)."""
        if isinstance(value, Tensor):
            base = self.tensor_name(value)
            if array is value._data:
                return base
            if _is_transpose(array, value._data):
                return f"{base}.T"
            if (
                isinstance(array, np.ndarray)
                and array.shape == value._data.shape
                and array.dtype != value._data.dtype
            ):
                name = self.var()
                self.emit(f"{name} = {base}.astype({self.const(array.dtype)})", new_array(array))
                return name
            self.fail("an op's input array is not its tensor's")
            return "None"
        if type(array) in _VALUE_TYPES:
            return self.const(array)
        if isinstance(array, tuple) and all(type(a) in _VALUE_TYPES for a in array):
            return self.const(array)
        self.fail(f"an op input of type {type(array).__name__}")
        return "None"

    # ------------------------------------------------------------------ events

    def forward(
        self, op: Any, inputs: Any, arrays: Any, result: Tensor, meta: dict[str, Any]
    ) -> None:
        """A forward op ran: ``result = op.forward(*arrays, **meta)``."""
        reason = _unsupported_op(op)
        if reason is None and len(inputs) != len(arrays):
            reason = "an op whose inputs and arrays differ in number"
        constants = getattr(type(op), "replay_constants", ())
        if reason is None and not all(
            _plain(v) or self._known(v) or key in constants for key, v in meta.items()
        ):
            reason = f"{type(op).__name__} with array arguments"
        if reason is None and type(op) not in DETERMINISTIC:
            reason = _check_repeatable(op, arrays, meta, result._data)
        if reason is not None:
            self.fail(reason)
            return
        args = [self.operand(v, a) for v, a in zip(inputs, arrays)]
        kw = {key: self._meta(value) for key, value in meta.items()}
        name = self.var()
        call = forward_expr(op, args, meta, kw, arrays)
        tag = None if call is None else new_array(result._data)
        args += [f"{key}={value}" for key, value in kw.items()]
        call = call or f"{self.const(op.forward)}({', '.join(args)})"
        if result._data is not _raw_output(op, arrays, meta, result._data):
            call, tag = f"_asarray({call})", None
        self.emit(f"{name} = {call}", tag)
        self.produce(result, name)
        self.ops[id(op)] = ([a for a in args if "=" not in a], name)
        if type(op) is Clamp and result.grad_fn is op and tag is not None:
            self._clamp_mask(op, args[0], kw, arrays[0])

    def _clamp_mask(self, op: Any, a: str, kw: dict[str, str], array: np.ndarray) -> None:
        """What eager's Clamp keeps for backward: the mask of where the gradient passes,
        made here so the input can be freed as early as eager frees it."""
        if (op.min is None) == (op.max is None):
            return
        mask = self.var()
        test = f"{a} >= {kw['min']}" if op.max is None else f"{a} <= {kw['max']}"
        self.emit(f"{mask} = {test}", (array.shape, np.dtype(np.bool_)))
        self.masks[id(op)] = mask

    def _owner(self, array: Any) -> Tensor | None:
        """The argument or guarded tensor whose array ``array`` is (class labels given to an
        op as an array), or None."""
        if not isinstance(array, np.ndarray):
            return None
        for t, _ in self.data_args.values():
            if t._data is array:
                return t
        for t in self.walked.values():
            if t._data is array:
                return t
        return None

    def _known(self, value: Any) -> bool:
        """Whether an array argument of an op is one the program has a name for."""
        if not isinstance(value, np.ndarray):
            return False
        name = self.array_name(value)
        return (name is not None and name.startswith("v")) or self._owner(value) is not None

    def _meta(self, value: Any) -> str:
        """The program's expression for an op's keyword argument (an array the op declares
        a constant, ``replay_constants``, is held as one)."""
        if _plain(value) or (self._owner(value) is None and self.array_name(value) is None):
            return self.const(value)
        name = self.array_name(value)
        if name is not None and name.startswith("v"):
            return name
        return self.tensor_name(self._owner(value))  # type: ignore[arg-type]

    def inplace(self, t: Tensor, ufunc: Any, other: Any, before: np.ndarray | None) -> None:
        """``ufunc(t, other, out=t)`` ran outside the graph (``before``: t's old values, to
        check that the kernel repeats; None for kernels that do by construction)."""
        other_data = other._data if isinstance(other, Tensor) else other
        if before is not None and not self._repeats(t, ufunc, other_data, before):
            return
        if id(t) in self.data_args:
            self.fail("an in-place change of an argument")
            return
        target = self.tensor_name(t)
        value = self.operand(other, other_data)
        self.emit(
            inplace_line(ufunc, target, value)
            or f"{self.const(ufunc)}({target}, {value}, {target})",
            READS if isinstance(ufunc, np.ufunc) or ufunc is _fill_kernel else None,
        )
        self.bump(t._vc)

    def _repeats(self, t: Tensor, ufunc: Any, other_data: Any, before: np.ndarray) -> bool:
        check = before.copy()
        try:
            ufunc(check, other_data, check)
        except Exception:  # noqa: BLE001 - any failure: not repeatable
            self.fail("an in-place change that cannot be repeated")
            return False
        if not np.array_equal(check, t._data, equal_nan=check.dtype.kind in "fc"):
            self.fail("an in-place change that does not repeat")
            return False
        return True

    def grad_set(self, t: Tensor, value: Any) -> None:
        """``t.grad = value`` (or ``del t.grad``) inside the step."""
        if value is not None:
            self.fail("a .grad assigned a tensor inside the step")
        elif id(t) in self.walked:
            self.emit(f"{self.const(t)}._grad = None")
        elif not self.is_produced(t):
            self.fail("a .grad reset on a tensor the step cannot reach")

    def bump(self, vc: list[int]) -> None:
        """Eager bumped ``vc``; so will the replay, when it is a guarded tensor's counter."""
        self.bumps[id(vc)] = self.bumps.get(id(vc), 0) + 1
        if id(vc) in self.walked_vcs:
            self.emit(f"{self.const(vc)}[0] += 1")
        elif id(vc) in self.entry_vcs:
            self.emit(f"{self._entry_name(id(vc), '_vc')}[0] += 1")

    def counters(self) -> dict[int, tuple[list[int], int]]:
        """Every version counter the recording follows, with its value now."""
        known = {key: (vc, vc[0]) for key, vc in self.walked_vcs.items()}
        for t, _ in self.entry_grads.values():
            known[id(t._vc)] = (t._vc, t._vc[0])
        for vc, _, _ in self.produced_versions:
            known[id(vc)] = (vc, vc[0])
        return known

    def host_call(self, owner: Any, method: Any, args: tuple[Any, ...], before: dict) -> None:
        """``method(owner, *args)`` ran (unrecorded); the replay calls it again, at this point.
        ``before``: ``counters()`` taken before the call, so its version bumps are expected."""
        if id(owner) not in self.guarded:
            self.fail(f"{type(owner).__name__} made inside the step")
            return
        if not all(type(a) in _VALUE_TYPES for a in args):
            self.fail(f"{type(owner).__name__}.{method.__name__} with non-constant arguments")
            return
        consts = "".join(f", {self.const(a)}" for a in args)
        self.call_again(method, [self.const(owner) + consts], before)

    def call_again(self, fn: Any, args: list[str], before: dict) -> None:
        """``fn(*args)`` ran (unrecorded, its version bumps since ``before``, a ``counters()``,
        expected); each replay calls it again at this point."""
        self.emit(f"{self.const(fn)}({', '.join(args)})")
        for key, (vc, value) in before.items():
            if vc[0] != value:
                self.bumps[key] = self.bumps.get(key, 0) + vc[0] - value

    def callback(self, fn: Any, tensors: tuple[Tensor, ...]) -> None:
        """``fn`` is called on these tensors' arrays here, in every replay too."""
        names = ", ".join(self.tensor_name(t) for t in tensors)
        self.emit(f"{self.const(fn)}({names})")

    def check_versions(self) -> None:
        """Every version bump of a guarded tensor must come from a recorded change: any other
        change (numpy on ``.data``, an optimizer's fused update) would not be replayed."""
        for key, vc in self.walked_vcs.items():
            if vc[0] - self.entry_versions[key] != self.bumps.get(key, 0):
                self.fail("a tensor was changed by something the recorder does not see")
                return
        for t, _ in self.entry_grads.values():
            if t._vc[0] - self.entry_vcs[id(t._vc)][1] != self.bumps.get(id(t._vc), 0):
                self.fail("a tensor was changed by something the recorder does not see")
                return
        for vc, version, bumps in self.produced_versions:
            if vc[0] - version != self.bumps.get(id(vc), 0) - bumps:
                self.fail("a tensor was changed by something the recorder does not see")
                return


READS = "reads"  # the tag of a line that only reads the variables it names


def new_array(array: Any) -> Any:
    """The tag of a line making a new array like ``array`` (None if it is not an array)."""
    return (array.shape, array.dtype) if isinstance(array, np.ndarray) else None


def _is_transpose(array: Any, data: np.ndarray) -> bool:
    """Whether ``array`` is ``data.T`` (how ``F.linear`` hands the weight to its op)."""
    return (
        isinstance(array, np.ndarray)
        and array.base is not None
        and array.shape == data.shape[::-1]
        and array.strides == data.strides[::-1]
        and array.dtype == data.dtype
        and array.__array_interface__["data"][0] == data.__array_interface__["data"][0]
    )


def _plain(value: Any) -> bool:
    """Whether an op's keyword argument can be a constant of the program."""
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    if type(value) is slice:  # an index key's part: immutable
        return all(_plain(v) for v in (value.start, value.stop, value.step))
    if dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen:
        # immutable, e.g. a convolution's Geometry: plain when every field is
        return all(_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    return type(value) in _META_TYPES or isinstance(value, np.dtype) or value is Ellipsis


def _unsupported_op(op: Any) -> str | None:
    """Why the op cannot be replayed by calling its own forward and backward, or None."""
    cls = type(op)
    if not isinstance(op, Op):
        return f"{cls.__name__} has no replay kernel"
    if op._n_out != 1:
        return f"{cls.__name__} has several outputs"
    if cls is LinearAddmm:
        return None
    # a HoldingOp keeps what its backward needs on itself: the replay calls its forward, which
    # sets them again, before its backward (it never releases them)
    driver = HoldingOp if isinstance(op, HoldingOp) else Op
    if cls._run is not driver._run or cls._run_once is not driver._run_once:
        return f"{cls.__name__} has its own backward driver"
    return None


def _raw_output(op: Any, arrays: Any, meta: dict[str, Any], out: np.ndarray) -> Any:
    """What ``op.forward`` returns (``_finish`` wraps a numpy scalar into a 0-d array): ``out``
    itself unless it is 0-d, then computed again (a scalar is cheap)."""
    return out if out.ndim else op.forward(*arrays, **meta)


def _check_repeatable(op: Any, arrays: Any, meta: dict[str, Any], out: np.ndarray) -> str | None:
    """Run the forward again: a different result (random ops, hidden state) cannot replay."""
    try:
        again = np.asarray(op.forward(*arrays, **meta))
    except Exception:  # noqa: BLE001
        return f"{type(op).__name__}'s forward cannot be repeated"
    if again.shape != out.shape or again.dtype != out.dtype:
        return f"{type(op).__name__}'s forward does not repeat"
    if not np.array_equal(again, out, equal_nan=out.dtype.kind in "fc"):
        return f"{type(op).__name__}'s forward does not repeat (random?)"
    return None
