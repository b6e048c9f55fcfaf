"""Output of ``tapegrad gradcheck`` and ``tapegrad graph``: plain lines when piped, rich on a
terminal. The commands hand over plain data (results, ``Graph``); nothing here computes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from tapegrad.autograd.graph import INPUT, LEAF, Graph, GraphNode, SavedValue
from tapegrad.cli.gradcheck_result import CheckResult
from tapegrad.cli.render import stderr_console, stdout_console

# ============================================================================ gradcheck


class GradcheckOutput(Protocol):
    """Receives results as they are produced."""

    def start(self, names: Sequence[str]) -> None: ...
    def result(self, result: CheckResult) -> None: ...
    def finish(self, results: Sequence[CheckResult], seconds: float) -> None: ...


def gradcheck_output(as_json: bool, terminal: bool, what: str) -> GradcheckOutput:
    """The output for the mode: JSON lines, a rich table with progress, or plain lines.

    ``what`` names a row ("op" or "parameter").
    """
    if as_json:
        return JsonGradcheckOutput(what)
    return RichGradcheckOutput(what) if terminal else PlainGradcheckOutput(what)


def _fmt_err(value: float) -> str:
    return f"{value:.2e}"


def _summary(results: Sequence[CheckResult], seconds: float, what: str) -> str:
    samples = sum(r.samples for r in results)
    failed = [r.name for r in results if not r.ok]
    counts = f"{len(results)} {what}s, {samples} samples, {seconds:.2f} s"
    if not failed:
        return f"gradcheck passed: {counts}"
    return f"gradcheck FAILED for {len(failed)} of {counts}: {', '.join(failed)}"


def _failure_lines(results: Sequence[CheckResult]) -> Iterator[str]:
    for r in results:
        for f in r.failures:
            worst = (
                f"; worst element: numerical {f.numerical:.6g}, analytical {f.analytical:.6g}"
                if f.numerical is not None and f.analytical is not None
                else ""
            )
            yield f"FAILED {r.name} [{f.sample}]: {f.message}{worst}"


class PlainGradcheckOutput:
    """Header, one table row per result as soon as it is known, failures, summary."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.width = len(what)

    def _write(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def start(self, names: Sequence[str]) -> None:
        """Print the header sized to the longest name."""
        self.width = max([len(self.what), *map(len, names)])
        self._write(
            f"{self.what:<{self.width}}  samples  max abs err  max rel err  result".rstrip()
        )

    def result(self, result: CheckResult) -> None:
        """Print one row."""
        self._write(
            f"{result.name:<{self.width}}  {result.samples:>7}  {_fmt_err(result.max_abs_err):>11}"
            f"  {_fmt_err(result.max_rel_err):>11}  {'ok' if result.ok else 'FAIL'}"
        )

    def finish(self, results: Sequence[CheckResult], seconds: float) -> None:
        """Print the failures with their worst elements, then the one-line summary."""
        for line in _failure_lines(results):
            self._write(line)
        self._write(_summary(results, seconds, self.what))


class RichGradcheckOutput:
    """A progress bar while checking, then a coloured table, failures and summary."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.console = stdout_console()
        self.progress: Progress | None = None
        self.task: Any = None

    def start(self, names: Sequence[str]) -> None:
        """Show a transient progress bar."""
        self.progress = Progress(
            TextColumn("gradcheck {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(names[0] if names else "", total=len(names))

    def result(self, result: CheckResult) -> None:
        """Advance the bar."""
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=result.name)

    def finish(self, results: Sequence[CheckResult], seconds: float) -> None:
        """Stop the bar; print table, failures and summary."""
        if self.progress is not None:
            self.progress.stop()
        table = Table(show_edge=False, header_style="bold")
        table.add_column(self.what)
        for column in ("samples", "max abs err", "max rel err"):
            table.add_column(column, justify="right")
        table.add_column("result")
        for r in results:
            verdict = Text("ok", "green") if r.ok else Text("FAIL", "bold red")
            table.add_row(
                r.name, str(r.samples), _fmt_err(r.max_abs_err), _fmt_err(r.max_rel_err), verdict
            )
        self.console.print(table)
        for line in _failure_lines(results):
            self.console.print(Text(line, "red"))
        ok = all(r.ok for r in results)
        self.console.print(Text(_summary(results, seconds, self.what), "green" if ok else "red"))


class JsonGradcheckOutput:
    """One JSON object per result on stdout; the summary goes to stderr."""

    def __init__(self, what: str) -> None:
        self.what = what

    def start(self, names: Sequence[str]) -> None:
        """Nothing to print up front."""

    def result(self, result: CheckResult) -> None:
        """Print the result's JSON line."""
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
        sys.stdout.flush()

    def finish(self, results: Sequence[CheckResult], seconds: float) -> None:
        """Summary on stderr, so stdout stays machine-readable."""
        sys.stderr.write(_summary(results, seconds, self.what) + "\n")


# ============================================================================ graph


MAX_INDENT = 30 * 4  # characters of tree guides kept; deeper lines show their depth instead


@dataclass
class TreeLine:
    """One printed line: tree guides, then text, with a style for rich."""

    prefix: str
    text: str
    style: str = ""


_KIND_STYLE = {"output": "bold green", "backward": "bold", LEAF: "bold cyan", INPUT: "dim"}


def tree_lines(graph: Graph, depth: int | None = None) -> Iterator[TreeLine]:
    """The tree of ``graph`` from its root, depth-first in ``next_functions`` order.

    A node reached again is referenced by its number; ``depth`` cuts the tree after that many
    levels, noting what was cut. Iterative: a graph of any depth prints.
    """
    numbers: dict[int, int] = {}
    # (node id, guide for its head line, guide for lines below it, level)
    stack: list[tuple[int, str, str, int]] = [(graph.root.id, "", "", 0)]
    while stack:
        node_id, head, below, level = stack.pop()
        node = graph.nodes[node_id]
        if node_id in numbers:
            yield TreeLine(head, f"{node.name} #{numbers[node_id]} (shown above)", "dim")
            continue
        numbers[node_id] = len(numbers) + 1
        children = graph.children(node_id)
        at_cut = depth is not None and level >= depth and children
        yield TreeLine(head, _head_text(node, numbers[node_id], level), _KIND_STYLE[node.kind])
        detail = below + ("│   " if children else "    ")
        yield from (TreeLine(detail, text, style) for text, style in _detail_texts(node))
        if at_cut:
            yield TreeLine(below + "└── ", _cut_text(len(children), depth), "yellow")
            continue
        for i in reversed(range(len(children))):
            last = i == len(children) - 1
            child_head = _guide(below, "└── " if last else "├── ")
            child_below = _guide(below, "    " if last else "│   ")
            stack.append((children[i].target, child_head, child_below, level + 1))
    shown, total = len(numbers), len(graph.nodes)
    if shown < total:
        yield TreeLine(
            "", f"(--depth {depth}: {total - shown} of {total} nodes not shown)", "yellow"
        )


def _guide(prefix: str, piece: str) -> str:
    joined = prefix + piece
    return joined if len(joined) <= MAX_INDENT else joined[-MAX_INDENT:]


def _cut_text(children: int, depth: int | None) -> str:
    inputs = "input" if children == 1 else "inputs"
    return f"... {children} {inputs} below not shown (cut at --depth {depth})"


def _shape_text(node: GraphNode) -> str:
    if node.shape is None:
        return ""
    shape = "[" + ", ".join(map(str, node.shape)) + "]"
    return f"{shape} {node.dtype}" if node.dtype else shape


def _head_text(node: GraphNode, number: int, level: int) -> str:
    deep = f" (depth {level})" if 4 * level > MAX_INDENT else ""
    if node.kind == INPUT:
        return f"None #{number}{deep}  {_input_text(node)}"
    label = f" -> {node.label}" if node.label else ""
    leaf = "  leaf" if node.kind == LEAF else ""
    return f"{node.name} #{number}{deep}{label}  {_shape_text(node)}{leaf}".rstrip()


def _input_text(node: GraphNode) -> str:
    if "value" in node.attrs:
        return f"constant {node.attrs['value']}, needs no gradient"
    if node.label:
        return f"input {node.label} {_shape_text(node)}, needs no gradient"
    if node.shape is not None:
        return f"input {_shape_text(node)}, needs no gradient"
    return "an input that needs no gradient (constant, or requires_grad=False)"


def _detail_texts(node: GraphNode) -> list[tuple[str, str]]:
    if node.kind == INPUT:
        return []
    backward = (f"backward: {node.description}", "")
    if node.kind == LEAF:
        return [backward]
    return [(f"saved: {saved_text(node)}", "dim"), backward]


def saved_text(node: GraphNode) -> str:
    """``self (x1) [2, 2] float32, other = 3 (keeps exponent=2)`` or ``nothing``."""
    if node.saved is None:
        what = "freed (backward already ran)"
    else:
        what = ", ".join(_saved_item(s) for s in node.saved) or "nothing"
    if node.attrs:
        keeps = ", ".join(f"{k}={_attr(v)}" for k, v in node.attrs.items())
        what += f" (keeps {keeps})"
    return what


def _saved_item(saved: SavedValue) -> str:
    label = f" ({saved.label})" if saved.label else ""
    if saved.value is not None:
        return f"{saved.name}{label} = {saved.value}"
    shape = "[" + ", ".join(map(str, saved.shape or [])) + "]"
    return f"{saved.name}{label} {shape} {saved.dtype}"


def _attr(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_attr(v) for v in value) + "]"
    return str(value)


STYLED_MAX_NODES = 5000  # rich takes seconds beyond this; larger trees print plain


def print_tree(lines: Iterator[TreeLine], styled: bool) -> None:
    """Write tree lines: styled (rich) or plain text."""
    if not styled:
        out = sys.stdout
        for line in lines:
            out.write(line.prefix + line.text + "\n")
        out.flush()
        return
    console = stdout_console()
    text = Text()
    for line in lines:
        text.append(line.prefix, "dim")
        text.append(line.text + "\n", line.style)
    console.print(text, end="")


def print_text(text: str, terminal: bool) -> None:
    """Write a block of text (code, DOT, JSON) unstyled."""
    if terminal:
        stdout_console().print(Text(text), end="")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def print_note(message: str) -> None:
    """A diagnostic on stderr."""
    stderr_console().print(Text(message))


def print_error(message: str) -> None:
    """A config or usage error as ``tapegrad train`` shows it: one ``error:`` line on stderr."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
