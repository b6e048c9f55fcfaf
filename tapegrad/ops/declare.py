"""Op declarations: every tensor operation is written once and declared with its forms.

An op's implementation is the function behind its Tensor method (``self`` first); ``declare``
records which forms it is exposed as: the method itself, a ``tapegrad.<name>`` function, an
``nn.functional`` function, operators and aliases, and the registry entries that test it.
``bind`` puts the methods onto Tensor and makes the function forms, so none of them is
written out by hand again (the idea of PyTorch's ``native_functions.yaml``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tapegrad.ops.samples import OpInfo
from tapegrad.promotion import _as_tensor
from tapegrad.tensor import Tensor

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    """One op as declared: its implementation and the names of its forms."""

    impl: Callable[..., Any]
    method: str | None  # Tensor.<method>; None for function-only ops (cat, where)
    function: str | None  # tapegrad.<function>
    functional: str | None  # nn.functional.<name>, for ops written as F's own form
    aliases: tuple[str, ...]  # more Tensor attribute names: operators (__add__), clip
    tests: tuple[OpInfo, ...]
    is_property: bool = False  # bound as a read-only Tensor property (t.device)


DECLARATIONS: list[Declaration] = []


def declare(
    *,
    name: str | None = None,
    method: bool = True,
    function: bool | str = True,
    functional: bool | str = False,
    aliases: Sequence[str] = (),
    tests: Sequence[OpInfo] = (),
    is_property: bool = False,
) -> Callable[[F], F]:
    """Declare the decorated function as an op and name the forms it is exposed as.

    By default the function becomes the Tensor method of its own name (or ``name``, for an
    implementation that must not shadow a builtin in its module: ``sum``) and, with ``self``
    named ``input``, the ``tapegrad.`` function of that name (``function="pow"`` names it
    otherwise, ``False`` makes none). ``method=False``: a function-only op whose first
    argument is not a Tensor (``cat``). ``functional=True`` (or a name): an ``nn.functional``
    form only, which has an F signature of its own (``relu(input, inplace=False)``).
    ``aliases``: other Tensor attributes bound to the same function (``__add__``, ``clip``).
    ``is_property=True``: a read-only Tensor property (``t.device``), never a function.
    """

    def record(impl: F) -> F:
        op_name = name or impl.__name__
        as_function = (
            (op_name if function is True else function or None)
            if not (functional or is_property)
            else None
        )
        DECLARATIONS.append(
            Declaration(
                impl=impl,
                method=op_name if method and not functional else None,
                function=as_function,
                functional=(op_name if functional is True else functional) or None,
                aliases=tuple(aliases),
                tests=tuple(tests),
                is_property=is_property,
            )
        )
        return impl

    return record


def bind_methods(cls: type) -> None:
    """Put every declared method, operator and alias onto ``cls`` (Tensor)."""
    for d in DECLARATIONS:
        if d.method:
            d.impl.__name__, d.impl.__qualname__ = d.method, f"{cls.__name__}.{d.method}"
        for name in (d.method, *d.aliases):
            if name is None:
                continue
            if name in cls.__dict__:
                raise RuntimeError(f"{cls.__name__}.{name} is declared twice")
            setattr(cls, name, property(d.impl) if d.is_property else d.impl)


def function_forms() -> dict[str, Callable[..., Any]]:
    """The ``tapegrad.<name>`` functions, by name."""
    forms: dict[str, Callable[..., Any]] = {}
    for d in DECLARATIONS:
        if d.function is None:
            continue
        if d.function in forms:
            raise RuntimeError(f"tapegrad.{d.function} is declared twice")
        forms[d.function] = _function_form(d) if d.method else _named(d.impl, d.function)
    return forms


def functional_forms() -> dict[str, Callable[..., Any]]:
    """The ``nn.functional.<name>`` functions, by name."""
    forms = {d.functional: d.impl for d in DECLARATIONS if d.functional}
    for name, fn in forms.items():
        _named(fn, name).__module__ = "tapegrad.nn.functional"
    return forms


def registry() -> list[OpInfo]:
    """Every registry entry, in declaration order."""
    return [info for d in DECLARATIONS for info in d.tests]


def _function_form(d: Declaration) -> Callable[..., Any]:
    """``tapegrad.<name>(input, ...)``: the method, called on ``input`` as a Tensor."""
    impl = d.impl

    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - torch's name
        return impl(input if isinstance(input, Tensor) else _as_tensor(input), *args, **kwargs)

    function.__doc__ = impl.__doc__
    signature = inspect.signature(impl)
    params = list(signature.parameters.values())
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[params[0].replace(name="input"), *params[1:]]
    )
    return _named(function, d.function or impl.__name__)


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "tapegrad"
    return fn
