"""Output of ``tapegrad graph --trace`` and ``tapegrad graph --format svg|png``.

The command hands over a ``Trace`` (``tapegrad.autograd.graph.trace``) or a ``Drawing``
(``tapegrad.autograd.graph.draw``); nothing here computes. Text is plain when piped and
styled on a terminal; pictures go to ``--out FILE`` or, as bytes, to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.text import Text

from tapegrad.autograd.graph import Drawing, Trace, graphviz_available
from tapegrad.autograd.trace_model import step_lines
from tapegrad.cli.render import stdout_console

#: Exit status when Graphviz is missing: a usage error, as the other commands give it.
EXIT_USAGE = 2

_STYLES = {  # by the first word of a step's line
    "step": "bold",
    "gradient": "",
    "hook": "magenta",
    "rule": "green",
    "send": "",
    ".grad": "bold cyan",
    "no": "dim",
}


def trace_text(trace: Trace, header: str = "") -> str:
    """The plain text of a trace (``header`` first: e.g. the code that was traced)."""
    return header + trace.to_text()


def print_trace(trace: Trace, terminal: bool, header: str = "", as_json: bool = False) -> None:
    """Write a trace: JSON (``--format json``), styled text on a terminal, plain otherwise."""
    if as_json:
        _write(trace.to_json(indent=2) + "\n")
        return
    if not terminal:
        _write(trace_text(trace, header))
        return
    text = Text(header)
    text.append(trace.to_text().split("\n", 1)[0] + "\n", "bold")
    for step in trace.steps:
        text.append("\n")
        for line in step_lines(step):
            first = line.split(maxsplit=1)[0] if line.strip() else ""
            text.append(line + "\n", _STYLES.get(first, ""))
    stdout_console().print(text, end="")


def write_picture(drawing: Drawing, fmt: str, out: str | None, terminal: bool = False) -> None:
    """Render ``drawing`` as ``fmt`` (svg, png) into ``out``, or to stdout without one.

    Graphviz missing (the Python package or the ``dot`` program): an ``error:`` line on
    stderr naming exactly what to install, and exit status 2; so is a PNG for a terminal.
    """
    if out is None and terminal and fmt != "svg":
        _fail(f"not writing {fmt.upper()} bytes to a terminal: give --out FILE")
    problem = graphviz_available()
    if problem is not None:
        _fail(problem)
    try:
        data = drawing.pipe(fmt)
    except RuntimeError as exc:  # dot vanished between the check and the call
        _fail(str(exc))
    if out is not None:
        Path(out).write_bytes(data)
        return
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a text-only stdout (tests): SVG is text, PNG is not writable there
        sys.stdout.write(data.decode("utf-8", errors="replace"))
    else:
        stream.write(data)
    sys.stdout.flush()


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_USAGE)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
