"""Shared output helpers for the commands: rich on a terminal, plain lines when piped."""

from __future__ import annotations

import sys

from rich.console import Console


def stdout_console() -> Console:
    """Console for results (stdout); plain text when stdout is not a terminal."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """Console for diagnostics (stderr)."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def is_terminal() -> bool:
    """True when stdout is an interactive terminal (progress displays only then); False
    when there is no stdout at all (started with ``>&-``)."""
    stream = sys.stdout
    if stream is None:
        return False
    try:
        return stream.isatty()
    except (OSError, ValueError):  # closed
        return False
