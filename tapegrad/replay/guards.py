"""Guards: the Python state a recorded step depends on, checked before each replay.

Before a step is recorded, everything ``fn`` can reach is walked (its arguments, closure
cells, the globals its code names, defaults; into functions, bound methods, lists, tuples,
dicts and objects' ``__dict__``, up to ``MAX_DEPTH``): scalars are guarded by value, other
objects by identity, containers also by length, and every Tensor by its state (array,
``.grad``, ``requires_grad``, ``grad_fn``, hooks, version counter). The checks are compiled
into one Python expression, so a replay costs one call to check them all.
"""

from __future__ import annotations

import dis
import functools
import types
from typing import Any

import numpy as np

from tapegrad.replay.source import make_function
from tapegrad.tensor import Tensor

MAX_DEPTH = 6
MAX_CHECKS = 20_000
_VALUE_TYPES = (int, float, bool, str, bytes, complex, type(None))
_OPAQUE = (types.ModuleType, type, types.BuiltinFunctionType, np.ndarray, np.dtype, np.ufunc)
_LIBRARY_PREFIXES = ("tapegrad", "numpy", "builtins", "functools", "torch")


_ENTRY_CHECKS = 1  # the checks ``_grad`` makes of a gradient it reads when a replay starts


class TooMuchState(Exception):
    """The step reaches more state than ``MAX_CHECKS`` checks can guard."""


class GuardBuilder:
    """Walks the state reachable from a step and writes the checks as Python source."""

    def __init__(self, read_when_run: frozenset[int] = frozenset()) -> None:
        # ids of objects whose ``_replay_read_when_run`` attributes only their replayed
        # methods read (the caller vouches for it: ``tapegrad train``'s update rule)
        self.read_when_run = read_when_run
        self.terms: list[str] = []
        self.owners: list[int] = []  # the container each check reads (0: none)
        self.consts: dict[str, Any] = {}
        self.seen: dict[int, str] = {}
        self.tensors: dict[int, Tensor] = {}
        self.data_args: dict[int, tuple[Tensor, str]] = {}
        # a guarded tensor's .grad, guarded by kind, shape and dtype and read when the replay
        # starts (a step that sets .grad to None gets a new one from every backward)
        self.entry_grads: dict[int, tuple[Tensor, Tensor]] = {}  # grad id: (grad, owner)
        self._entry_terms: dict[int, tuple[int, str]] = {}  # grad id: (first check, expr)
        self._n = 0

    def _const(self, value: Any) -> str:
        name = f"k{self._n}"
        self._n += 1
        self.consts[name] = value
        return name

    def _check(self, term: str, owner: int = 0) -> None:
        self.terms.append(term)
        self.owners.append(owner)
        if len(self.terms) > MAX_CHECKS:
            raise TooMuchState(f"more than {MAX_CHECKS} guard checks")

    def root(self, value: Any) -> None:
        """Guard ``value`` itself (held as a constant) and what it reaches (the step function
        is walked into wherever it is defined, tapegrad's own steps included)."""
        name = self._const(value)
        if isinstance(value, types.FunctionType):
            self.seen[id(value)] = name
            self._function(name, value, 0, root=True)
            return
        self._walk(name, value, 0, identity_checked=True)

    def value(self, expr: str, value: Any, depth: int, owner: int = 0) -> None:
        """Guard the object ``expr`` evaluates to: by value, identity, then its contents."""
        if type(value) in _VALUE_TYPES:
            kind, const = self._const(type(value)), self._const(value)
            self._check(f"type({expr}) is {kind} and {expr} == {const}", owner)
            return
        name = self._const(value)
        self._check(f"{expr} is {name}", owner)
        self._walk(name, value, depth, identity_checked=True)

    def argument(self, expr: str, value: Any) -> None:
        """Guard an argument: a tensor that needs no gradient (a batch) by its kind, shape
        and dtype only, so each call may pass a new one; anything else as ``value`` does."""
        if type(value) is not Tensor or value._requires_grad or id(value) in self.data_args:
            self.value(expr, value, 0)
            return
        self.data_args[id(value)] = (value, expr)
        self._check(f"type({expr}) is {self._const(Tensor)}")
        self._check(f"{expr}._data.shape == {value._data.shape!r}")
        self._check(f"{expr}._data.dtype is {self._const(value._data.dtype)}")
        self._check(f"{expr}._requires_grad is False and {expr}.grad_fn is None")
        self._check(f"{expr}._grad is None and not {expr}._hooks")

    def _walk(self, name: str, value: Any, depth: int, identity_checked: bool) -> None:
        if id(value) in self.seen or depth > MAX_DEPTH:
            return
        self.seen[id(value)] = name
        if isinstance(value, Tensor):
            self._tensor(name, value)
        elif isinstance(value, _OPAQUE) or type(value) in _VALUE_TYPES:
            return
        elif isinstance(value, list | dict):
            self._container(name, value, depth)
        elif isinstance(value, tuple):
            for item in value:  # immutable: the items are the same objects
                if type(item) not in _VALUE_TYPES:
                    self._walk(self._const(item), item, depth + 1, True)
        elif isinstance(value, types.FunctionType):
            self._function(name, value, depth)
        elif isinstance(value, types.MethodType):
            self.value(f"{name}.__self__", value.__self__, depth + 1)
            self.value(f"{name}.__func__", value.__func__, depth + 1)
        else:
            attrs = getattr(value, "__dict__", None)
            if isinstance(attrs, dict):
                self._check(f"type({name}) is {self._const(type(value))}")
                self._attributes(name, value, attrs, depth + 1)

    def _container(self, name: str, value: Any, depth: int) -> None:
        self._check(f"len({name}) == {len(value)}", id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            key_expr = repr(key) if type(key) in (int, str) else self._const(key)
            self.value(f"{name}[{key_expr}]", item, depth + 1, id(value))

    def _attributes(self, name: str, owner: Any, attrs: dict[str, Any], depth: int) -> None:
        """An object's ``__dict__``, except the attributes its type names in
        ``_replay_unguarded`` (state that only its replayed methods read, when they run)."""
        skipped = getattr(type(owner), "_replay_unguarded", ())
        if id(owner) in self.read_when_run:
            skipped = (*skipped, *getattr(type(owner), "_replay_read_when_run", ()))
        if not skipped:
            self.value(f"{name}.__dict__", attrs, depth)
            return
        expr = f"{name}.__dict__"
        self._check(f"{expr} is {self._const(attrs)}")
        self._check(f"len({expr}) == {len(attrs)}", id(attrs))
        for key, item in attrs.items():
            if key not in skipped:
                self.value(f"{expr}[{key!r}]", item, depth + 1, id(attrs))

    def _function(self, name: str, fn: types.FunctionType, depth: int, root: bool = False) -> None:
        if _is_library(fn) and not root:
            return
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later in the outer function)
                self._check(f"not _cell_full({self._const(cell)})")
                continue
            self.value(f"{self._const(cell)}.cell_contents", contents, depth + 1)
        globs = fn.__globals__
        gname = self._const(globs)
        for var in sorted(_global_names(fn.__code__)):
            if var in globs:
                self.value(f"{gname}[{var!r}]", globs[var], depth + 1)
            else:
                self._check(f"{var!r} not in {gname}")
        if fn.__defaults__ is not None:
            self.value(f"{name}.__defaults__", fn.__defaults__, depth + 1)
        if fn.__kwdefaults__ is not None:
            self.value(f"{name}.__kwdefaults__", fn.__kwdefaults__, depth + 1)

    def _tensor(self, name: str, t: Tensor) -> None:
        self.tensors[id(t)] = t
        self._check(f"{name}._data is {self._const(t._data)}")
        self._check(f"{name}._requires_grad is {t._requires_grad}")
        self._check(f"{name}.grad_fn is {self._const(t.grad_fn)}")
        self._check(f"{name}._vc is {self._const(t._vc)}")
        self._check(f"not {name}._hooks")
        self._grad(name, t)

    def _grad(self, name: str, owner: Tensor) -> None:
        """Guard a tensor's ``.grad``: None, or a plain writeable tensor of this shape and dtype
        (its array read at the start of each replay); anything else by identity."""
        expr, grad = f"{name}._grad", owner._grad
        if grad is None:
            self._check(f"{expr} is None")
            return
        plain = type(grad) is Tensor and grad.grad_fn is None and not grad._requires_grad
        if not plain or id(grad) in self.seen or id(grad) in self.entry_grads or grad._hooks:
            self._check(f"{expr} is {self._const(grad)}")
            self._walk(self._const(grad), grad, 0, True)
            return
        self.entry_grads[id(grad)] = (grad, owner)
        self._entry_terms[id(grad)] = (len(self.terms), expr)
        data = grad._data
        self._check(  # one check: the same tensor and array as at the recording, or alike
            f"((_g := {expr}) is {self._const(grad)} and _g._data is {self._const(data)}"
            f" or type(_g) is {self._const(Tensor)}"
            f" and (_d := _g._data).shape == {data.shape!r}"
            f" and _d.dtype is {self._const(data.dtype)})"
            f" and _g._data.flags.writeable is {bool(data.flags.writeable)}"
            " and _g._requires_grad is False and _g.grad_fn is None"
        )

    def compile(self) -> Any:
        """The checks as one function returning True while every one holds."""
        # a tensor's version counter (a one-item list) changes with every in-place update:
        # reached as a list (an optimizer keeps them), only its identity is guarded
        counters = {id(t._vc) for t in self.tensors.values()}
        terms = list(self.terms)
        for key, (first, expr) in self._entry_terms.items():
            if key in self.tensors:  # guarded by identity elsewhere (a flat buffer's view)
                terms[first : first + _ENTRY_CHECKS] = [
                    f"{expr} is {self._const(self.tensors[key])}",
                    *("",) * (_ENTRY_CHECKS - 1),
                ]
        terms = [t for t, owner in zip(terms, self.owners) if t and owner not in counters]
        body = " and ".join(terms) or "True"
        source = f"def _guard(_args, _kwargs):\n    try:\n        return bool({body})\n"
        source += "    except (LookupError, AttributeError, TypeError, ValueError):\n"
        source += "        return False\n"
        namespace = dict(self.consts, _cell_full=_cell_full)
        return make_function(source, "_guard", namespace, "<tapegrad.compile guard>")


def _cell_full(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _is_library(obj: Any) -> bool:
    """Functions and types of tapegrad, numpy and the standard library: their state is not
    the step's (what they do is guarded by the arguments they are given)."""
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in _LIBRARY_PREFIXES


_GLOBAL_OPS = frozenset(("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"))


@functools.lru_cache(maxsize=256)
def _global_names(code: types.CodeType) -> frozenset[str]:
    """Names a code object (and the functions and lambdas defined in it) may read as globals
    (``co_names`` also holds attribute names: only the global loads count)."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_OPS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return frozenset(names)


def build_guard(
    fn: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    read_when_run: frozenset[int] = frozenset(),
) -> GuardBuilder:
    """Walk what ``fn`` called with ``args``/``kwargs`` can reach; the builder holds the checks
    (compile them with ``compile()``) and the tensors met (``tensors``)."""
    builder = GuardBuilder(read_when_run)
    builder.root(fn)
    builder._check(f"len(_args) == {len(args)}")
    builder._check(f"sorted(_kwargs) == {sorted(kwargs)!r}" if kwargs else "not _kwargs")
    for i, arg in enumerate(args):
        builder.argument(f"_args[{i}]", arg)
    for key, arg in kwargs.items():
        builder.argument(f"_kwargs[{key!r}]", arg)
    return builder
