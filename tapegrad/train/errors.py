"""``ConfigError`` and how its messages quote what the user gave.

Messages name where a value came from (a file, ``COMMAND_LINE`` or ``defaults``) and show
the value itself cut short, so a huge or self-referencing YAML value still reads well.
"""

from __future__ import annotations

import json
from typing import Any

COMMAND_LINE = "command line"


class ConfigError(Exception):
    """A user error in a config, an override or a data file (the CLI exits with code 2)."""


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (user input quoted in messages stays readable)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show(value: Any, limit: int = 80) -> str:
    """A short JSON-like rendering; bounded, because YAML aliases can nest a value
    exponentially (or in a cycle) and printing it whole would never finish."""
    return clip(_render(value, limit + 1, depth=0), limit)


def _render(value: Any, budget: int, depth: int) -> str:
    if isinstance(value, list | tuple | dict):
        if depth > 4:
            return "[...]" if not isinstance(value, dict) else "{...}"
        items = value.items() if isinstance(value, dict) else value
        parts: list[str] = []
        used = 0
        for item in items:
            if used > budget:
                parts.append("...")
                break
            if isinstance(value, dict):
                k, v = item
                part = f"{_render(k, budget, depth + 1)}: {_render(v, budget, depth + 1)}"
            else:
                part = _render(item, budget, depth + 1)
            parts.append(part)
            used += len(part) + 2
        inner = ", ".join(parts)
        return "{" + inner + "}" if isinstance(value, dict) else "[" + inner + "]"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        try:
            text = repr(value)
        except ValueError:  # an integer too long to convert
            text = f"<{type(value).__name__}>"
    return clip(text, budget)


def kind_of(value: Any) -> str:
    """What sort of YAML value ``value`` is, with the value shown: ``a list ([1, 2])``."""
    names = {
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
    }
    return f"{names.get(type(value), type(value).__name__)} ({show(value)})"
