"""Layers: ``Linear``, the activation modules and ``Sequential``."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from tapegrad.factories import empty
from tapegrad.nn import functional as F
from tapegrad.nn import init
from tapegrad.nn.module import Module, _check_module, _checked_index
from tapegrad.nn.parameter import Parameter
from tapegrad.tensor import Tensor


class Linear(Module):
    """``y = x @ weight.T + bias``, weight (out_features, in_features), initialized as torch."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        """Create the parameters and draw them from the seeded generator."""
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        # empty, as torch: reset_parameters below fills both
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype))
        self.bias = Parameter(empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Apply the affine map to the last dimension of ``input``."""
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        """``in_features=3, out_features=32, bias=True``."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class ReLU(Module):
    """``max(x, 0)`` elementwise; ``inplace=True`` overwrites the input, as torch."""

    def __init__(self, inplace: bool = False) -> None:
        """``inplace``: apply relu to the input tensor itself."""
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply relu."""
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        """``inplace=True`` when set (torch prints nothing otherwise)."""
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """Hyperbolic tangent elementwise."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply tanh."""
        return F.tanh(input)


class Sigmoid(Module):
    """Logistic function elementwise."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """Apply sigmoid."""
        return F.sigmoid(input)


class Sequential(Module):
    """Modules applied in order; entries are named ``0``, ``1``, ... (or by an OrderedDict)."""

    def __init__(self, *modules: Any) -> None:
        """``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(name=module, ...))``."""
        super().__init__()
        self._items: dict[str, Module] = {}
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self._add(name, module)
        else:
            for module in modules:
                self.append(module)

    def _add(self, name: str, module: Module) -> None:
        _check_module(module)
        self._items[name] = module

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        yield from self._items.items()

    def forward(self, input: Any) -> Any:  # noqa: A002
        """Feed ``input`` through every module in turn."""
        for module in self._items.values():
            input = module(input)  # noqa: A001
        return input

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position); return self."""
        self._add(str(len(self._items)), module)
        return self

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._items.items())[idx]))
        return list(self._items.values())[_checked_index(idx, len(self._items))]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items.values())
