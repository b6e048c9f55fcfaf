"""What a ``Module`` holds besides parameters: buffers, dtype conversion, lookups by name.

``ModuleState`` is a mixin of ``Module`` (kept apart to keep each file short). Buffers are
plain attributes whose names are listed in ``_buffer_names`` (name -> persistent), so they are
read as fast as any attribute; ``state_dict`` holds the persistent ones after the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tapegrad import _dtypes
from tapegrad._dtypes import _FLOAT_KIND
from tapegrad.ops.conversion import _to_target
from tapegrad.tensor import Tensor, _wrap


class ModuleState:
    """Buffers, conversions (``double()``, ``to(...)``) and ``get_submodule``-style lookups."""

    # ------------------------------------------------------------------ buffers

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (BatchNorm's ``running_mean``).

        Persistent buffers are saved by ``state_dict``; ``None`` registers the name only.
        """
        names = self.__dict__.get("_buffer_names")
        if names is None:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(name, "buffer")
        if hasattr(self, name) and name not in names:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(tapegrad Tensor or None required)"
            )
        names[name] = bool(persistent)
        object.__setattr__(self, name, tensor)

    def _own_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, Tensor]]:
        """Buffers held directly by this module (not None), in registration order."""
        for name, persistent in self.__dict__.get("_buffer_names", {}).items():
            value = self.__dict__.get(name)
            if value is not None and (persistent or not persistent_only):
                yield name, value

    def _own_state(self) -> Iterator[tuple[str, Tensor]]:
        """What ``state_dict`` saves of this module: parameters, then persistent buffers."""
        yield from self._own_parameters()  # type: ignore[attr-defined]
        yield from self._own_buffers(persistent_only=True)

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` for every buffer: ``bn.running_mean``..."""
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)  # type: ignore[attr-defined]
            if recurse
            else [(prefix, self)]
        )
        seen: set[int] = set()
        for module_prefix, module in modules:
            for name, buf in module._own_buffers():
                if id(buf) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(buf))
                yield (f"{module_prefix}.{name}" if module_prefix else name), buf

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    # ------------------------------------------------------------------ conversion

    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Any:
        """Convert every parameter (in place, keeping the object, with its grad) and buffer."""
        for module in self.modules():  # type: ignore[attr-defined]
            for _, param in module._own_parameters():
                param._data = fn(param)._data
                if param.grad is not None:
                    param.grad._data = fn(param.grad)._data
            for name, buf in list(module._own_buffers()):
                object.__setattr__(module, name, fn(buf))
        return self

    def double(self) -> Any:
        """Cast floating-point parameters and buffers to float64; return self."""
        return self._apply(_float_cast(_dtypes.float64))

    def float(self) -> Any:
        """Cast floating-point parameters and buffers to float32; return self."""
        return self._apply(_float_cast(_dtypes.float32))

    def half(self) -> Any:
        """Cast floating-point parameters and buffers to float16; return self."""
        return self._apply(_float_cast(_dtypes.float16))

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``: floating-point
        parameters and buffers cast to the dtype (the device can only be the CPU)."""
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        args = tuple(a for a in args if not isinstance(a, bool))  # to(dtype, non_blocking)
        dtype = _to_target(args, kwargs)
        if dtype is None:
            return self
        target = _dtypes.to_numpy_dtype(dtype)
        if target.kind not in (_FLOAT_KIND, "c"):
            raise TypeError(
                "nn.Module.to only accepts floating point or complex dtypes, but got desired "
                f"dtype={_dtypes.from_numpy_dtype(target)}"
            )
        return self._apply(_float_cast(_dtypes.from_numpy_dtype(target)))

    def cpu(self) -> Any:
        """This module: tapegrad's tensors are always on the CPU."""
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Any:
        """Set ``requires_grad`` on every parameter; return self (freezing a model)."""
        for param in self.parameters():  # type: ignore[attr-defined]
            param.requires_grad_(requires_grad)
        return self

    # ------------------------------------------------------------------ names

    def get_submodule(self, target: str) -> Any:
        """The submodule at the dotted path ``target`` (``""`` is self)."""
        if target == "":
            return self
        module: Any = self
        for item in target.split("."):
            children = dict(module._child_items())
            if item not in children:
                if hasattr(module, item):
                    raise AttributeError(f"`{item}` is not an nn.Module")
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = children[item]
        return module

    def get_parameter(self, target: str) -> Tensor:
        """The parameter at the dotted path ``target`` (``"0.weight"``)."""
        module, name = self._owner_of(target)
        if name not in dict(module._own_parameters()):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return getattr(module, name)

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target`` (``"bn.running_mean"``)."""
        module, name = self._owner_of(target)
        if name not in module.__dict__.get("_buffer_names", {}):
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(module, name)

    def _owner_of(self, target: str) -> tuple[Any, str]:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        return module, name


def _check_name(name: Any, kind: str) -> None:
    """torch's checks on a new buffer's (or parameter's) name."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


def _float_cast(dtype: Any) -> Callable[[Tensor], Tensor]:
    """Cast a floating-point tensor's data to ``dtype``, leaving other tensors as they are."""
    target = _dtypes.to_numpy_dtype(dtype)

    def cast(t: Tensor) -> Tensor:
        if t._data.dtype.kind not in (_FLOAT_KIND, "c") or t._data.dtype == target:
            return t
        return _wrap(np.asarray(t._data, dtype=target))

    return cast
