"""Generated source turned into a function, with the compiled code cached by its text.

A program's or a guard's source names its constants (``c1``, ``k1``...) rather than holding
them, so recording the same structure again (a new batch shape seen before, a learning rate
changed by a schedule, the same step compiled in a new run of a benchmark) yields the same
text: CPython's ``compile`` then runs once, and only a function is made from the cached code.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

CACHED = 128  # code objects kept, most recently used


@functools.lru_cache(maxsize=CACHED)
def _code(source: str, filename: str) -> types.CodeType:
    return compile(source, filename, "exec")


def make_function(source: str, name: str, namespace: dict[str, Any], filename: str) -> Callable:
    """Run ``source`` (which defines ``name``) in ``namespace``; return that function."""
    exec(_code(source, filename), namespace)  # noqa: S102 - our own generated source
    return namespace[name]
