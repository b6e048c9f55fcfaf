"""Value checks for config keys: each turns a raw YAML value into its normal form.

A check's ``convert`` returns the normalized value or raises ValueError; ``expected`` is the
phrase a config error quotes ("must be <expected>, got ...").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """A value check: ``convert`` returns the normalized value or raises ValueError."""

    expected: str
    convert: Callable[[Any], Any]
    options: tuple[str, ...] = ()


_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _as_float(value: Any) -> float:
    # PyYAML reads `1e-4` (no dot) as a string; accept any plain numeric literal.
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return float(value)


def number(gt: float | None = None, ge: float | None = None, lt: float | None = None) -> Check:
    """A finite number with optional bounds; numeric strings such as ``"1e-4"`` are accepted."""
    if ge is not None and lt is not None:
        expected = f"a number in [{ge:g}, {lt:g})"
    elif gt is not None or ge is not None:
        expected = f"a number > {gt:g}" if gt is not None else f"a number >= {ge:g}"
    else:
        expected = "a number"

    def convert(value: Any) -> float:
        x = _as_float(value)
        too_low = (gt is not None and x <= gt) or (ge is not None and x < ge)
        if too_low or (lt is not None and x >= lt):
            raise ValueError
        return x

    return Check(expected, convert)


def integer(ge: int) -> Check:
    """An integer ``>= ge``; integral floats and numeric strings (``"1e3"``) are accepted."""

    def convert(value: Any) -> int:
        x = _as_float(value) if not isinstance(value, int) or isinstance(value, bool) else value
        if x != int(x) or x < ge:
            raise ValueError
        return int(x)

    return Check(f"an integer >= {ge}", convert)


def choice(*options: str) -> Check:
    """One of ``options``."""

    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError
        return value

    return Check("one of " + ", ".join(options), convert, options)


def boolean() -> Check:
    """true or false."""

    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError
        return value

    return Check("true or false", convert)


def text() -> Check:
    """A non-empty string without NUL characters (no path can hold one)."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value or "\0" in value:
            raise ValueError
        return value

    return Check("a non-empty string", convert)


def optional(check: Check) -> Check:
    """``check`` or null."""
    return Check(f"{check.expected} or null", lambda v: None if v is None else check.convert(v))


def list_of(item: Check, expected: str, length: int | None = None) -> Check:
    """A non-empty list of ``item`` (of exactly ``length`` items when given)."""

    def convert(value: Any) -> list[Any]:
        if not isinstance(value, list) or not value or (length and len(value) != length):
            raise ValueError
        return [item.convert(v) for v in value]

    return Check(expected, convert)


def hidden_sizes() -> Check:
    """One positive int, or a list of them (``[]`` means no hidden layer)."""
    each = integer(ge=1)

    def convert(value: Any) -> list[int]:
        items = value if isinstance(value, list) else [value]
        return [each.convert(v) for v in items]

    return Check("an integer >= 1 or a list of them", convert)


def columns() -> Check:
    """CSV target column(s): a name or 0-based index, or a list of them; null = last column."""

    def one(value: Any) -> str | int:
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise ValueError
        return value

    def convert(value: Any) -> list[str | int] | None:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError
        return [one(v) for v in items]

    return Check("a column name or index, a list of them, or null (the last column)", convert)
