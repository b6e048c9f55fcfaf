"""``Module`` and its containers: the bookkeeping behind every layer, as in ``torch.nn``.

A Module finds its Parameters and submodules by walking its attributes in definition order;
lists/tuples of Modules count as a ``ModuleList`` and dicts of Modules as a ``ModuleDict``, so
their entries are named ``layers.0.weight`` or ``blocks.a.weight`` exactly as torch names them.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tapegrad.nn.module_state import ModuleState, _check_name
from tapegrad.nn.parameter import Parameter, zero_grads
from tapegrad.nn.state_dict import IncompatibleKeys, load_into
from tapegrad.tensor import Tensor

# ============================================================================ Module


class Module(ModuleState):
    """Base class of all layers and models: subclasses define ``forward``."""

    training: bool = True

    def __init__(self) -> None:
        """Start in training mode, with no buffers."""
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffer_names", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass overrides it."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        buffers = self.__dict__.get("_buffer_names", {})
        if name in buffers:
            if isinstance(value, Parameter | Module):
                del buffers[name]  # becomes a parameter or a child, as in torch
            elif value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' "
                    "(tapegrad.Tensor or None expected)"
                )
        if value is not None:
            if isinstance(current, Parameter) and not isinstance(value, Parameter):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(tapegrad.nn.Parameter or None expected)"
                )
            if isinstance(current, Module) and not isinstance(value, Module):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as child module '{name}' "
                    "(tapegrad.nn.Module or None expected)"
                )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__.get("_buffer_names", {}).pop(name, None)
        object.__delattr__(self, name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add ``module`` (or None) as the child attribute ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if hasattr(self, name) and not isinstance(getattr(self, name), Module | None):
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        setattr(self, name, module)

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of ``add_module``."""
        self.add_module(name, module)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or None) as the parameter attribute ``name``."""
        if "_buffer_names" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(name, "parameter")
        if hasattr(self, name) and not isinstance(getattr(self, name), Parameter | None):
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(tapegrad.nn.Parameter or None required)"
            )
        setattr(self, name, param)

    # ------------------------------------------------------------------ discovery

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Parameters held directly by this module, in definition order."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield name, value

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules in definition order, duplicates included (as torch's _modules)."""
        for name, value in vars(self).items():
            child = _as_child(value)
            if child is not None:
                yield name, child

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct submodule (each module once)."""
        seen: set[int] = set()
        for name, child in self._child_items():
            if id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """Each direct submodule."""
        for _, child in self.named_children():
            yield child

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module and every submodule, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._child_items():
            child_prefix = f"{prefix}.{name}" if prefix else name
            yield from child.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every submodule."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)``: ``weight``, ``0.bias``, ``layers.1.weight``..."""
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        seen: set[int] = set()
        for module_prefix, module in modules:
            for name, param in module._own_parameters():
                if id(param) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(param))
                yield (f"{module_prefix}.{name}" if module_prefix else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (what an optimizer takes)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    # ------------------------------------------------------------------ modes and grads

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and its submodules; return self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); return self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the parameters' gradients: to None, or to zeros in place."""
        zero_grads(self.parameters(), set_to_none)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule, then on self (e.g. custom initialization)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ state

    def state_dict(
        self,
        destination: dict[str, Tensor] | None = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (torch's keys), detached unless
        ``keep_vars``."""
        if destination is None:
            destination = OrderedDict()
        for name, value in self._own_state():
            destination[prefix + name] = value if keep_vars else value.detach()
        for name, child in self._child_items():
            child.state_dict(destination, prefix + name + ".", keep_vars)
        return destination  # type: ignore[return-value]

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy values (Tensors or numpy arrays) into the parameters and buffers in place.

        Raises torch's ``Error(s) in loading state_dict`` on missing or unexpected keys (when
        ``strict``) and on shape mismatches; parameter objects stay the same.
        """
        return load_into(self, state_dict, strict)

    # ------------------------------------------------------------------ repr

    def extra_repr(self) -> str:
        """The text inside this module's parentheses (e.g. ``in_features=3, ...``)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): {_addindent(repr(child), 2)}" for name, child in self._child_items()
        ]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _typename(value: Any) -> str:
    if isinstance(value, Tensor):
        return "tapegrad.Tensor"
    return type(value).__name__


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (torch's ``_addindent``)."""
    first, *rest = text.split("\n")
    if not rest:
        return text
    return "\n".join([first, *((" " * spaces + line) if line.strip() else "" for line in rest)])


# ============================================================================ containers


_CONTAINERS = (list, tuple, dict)


def _as_child(value: Any) -> Module | None:
    """A Module, or a container view of a non-empty list/tuple/dict made only of Modules."""
    if isinstance(value, Module):
        return value
    if not isinstance(value, _CONTAINERS):  # most attributes: numbers, flags, tensors
        return None
    if isinstance(value, list | tuple) and value and all(isinstance(v, Module) for v in value):
        return ModuleList._view(value)
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and isinstance(v, Module) for k, v in value.items())
    ):
        return ModuleDict._view(value)
    return None


class ModuleList(Module):
    """A list of Modules whose entries are registered as ``0``, ``1``, ...

    A plain list of Modules assigned to a Module attribute is treated as one of these.
    """

    def __init__(self, modules: Any = None) -> None:
        """Hold ``modules`` (any iterable of Modules)."""
        super().__init__()
        self._items: list[Module] | tuple[Module, ...] = []
        if modules is not None:
            self.extend(modules)

    @classmethod
    def _view(cls, items: list[Module] | tuple[Module, ...]) -> ModuleList:
        view = cls()
        view._items = items
        return view

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        for i, module in enumerate(self._items):
            yield str(i), module

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(self._items[idx])
        return self._items[_checked_index(idx, len(self._items))]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; return self."""
        _check_module(module)
        self._items.append(module)  # type: ignore[union-attr]
        return self

    def extend(self, modules: Any) -> ModuleList:
        """Append every module of an iterable; return self."""
        for module in modules:
            self.append(module)
        return self

    def __repr__(self) -> str:
        """torch's ModuleList repr: runs of identical entries shown once as ``(0-1): 2 x``."""
        reprs = [repr(m) for m in self._items]
        if not reprs:
            return self._get_name() + "()"
        runs: list[list[Any]] = []
        for i, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [
            _addindent(
                f"({start}): {text}"
                if start == end
                else f"({start}-{end}): {end - start + 1} x {text}",
                2,
            )
            for start, end, text in runs
        ]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of Modules registered under their (string) keys, in insertion order.

    A plain dict of Modules assigned to a Module attribute is treated as one of these.
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        """Hold the given ``name -> module`` entries."""
        super().__init__()
        self._items: dict[str, Module] = {}
        for key, module in (modules or {}).items():
            self[key] = module

    @classmethod
    def _view(cls, items: dict[str, Module]) -> ModuleDict:
        view = cls()
        view._items = items
        return view

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        yield from self._items.items()

    def __getitem__(self, key: str) -> Module:
        return self._items[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):
            raise TypeError(f"module name should be a string. Got {type(key).__name__}")
        _check_module(module)
        self._items[key] = module

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> Any:
        """The entry names."""
        return self._items.keys()

    def values(self) -> Any:
        """The modules."""
        return self._items.values()

    def items(self) -> Any:
        """``(name, module)`` pairs."""
        return self._items.items()


def _check_module(module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{_typename(module)} is not a Module subclass")


def _checked_index(idx: int, size: int) -> int:
    """Normalize an int index into a container, raising torch's IndexError."""
    idx = operator.index(idx)
    if not -size <= idx < size:
        raise IndexError(f"index {idx} is out of range")
    return idx % size
