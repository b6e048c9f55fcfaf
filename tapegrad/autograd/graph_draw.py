"""``draw(tensor)``: the backward graph as a picture, with Graphviz, for notebooks and files.

Colours as torchviz: leaves light blue, saved tensors orange, the output dark green, other
nodes grey. After backward, each leaf's and each retained tensor's ``.grad`` is written in
its box. The DOT text needs nothing; SVG/PNG need the ``graphviz`` Python package (the
``viz`` extra) and Graphviz's ``dot`` program. Without them a ``Drawing`` still shows as a
text tree in a notebook, and ``pipe``/``render`` say exactly what to install.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

from tapegrad.autograd.graph_model import (
    BACKWARD,
    INPUT,
    LEAF,
    OUTPUT,
    Graph,
    GraphNode,
    truncate,
)
from tapegrad.autograd.graph_render import dot_label
from tapegrad.autograd.graph_walk import Names, walk
from tapegrad.autograd.trace import _retained_tensor
from tapegrad.autograd.trace_model import Value
from tapegrad.engine.node import Node, register_display

INSTALL_PACKAGE = "pip install 'tapegrad[viz]'"
INSTALL_DOT = "the graphviz system package (e.g. apt-get install graphviz, brew install graphviz)"
NOTEBOOK_MAX_NODES = 2000  # a notebook shows larger graphs as (cut) text, not a picture
TEXT_MAX_LINES = 200

# torchviz's palette
_FILL = {
    OUTPUT: "darkolivegreen1",
    BACKWARD: "lightgrey",
    LEAF: "lightblue",
    INPUT: "white",
}
SAVED_FILL = "orange"


def graphviz_available() -> str | None:
    """None when pictures can be made, else what to install (the ``RuntimeError`` text)."""
    missing = []
    try:
        importlib.import_module("graphviz")
    except ImportError:
        missing.append(f"the graphviz Python package ({INSTALL_PACKAGE})")
    if shutil.which("dot") is None:
        missing.append(f"Graphviz's dot program ({INSTALL_DOT})")
    if not missing:
        return None
    return (
        f"drawing the graph needs {' and '.join(missing)}; install with {INSTALL_PACKAGE} "
        f"and {INSTALL_DOT}"
    )


def _require_graphviz() -> Any:
    problem = graphviz_available()
    if problem is not None:
        raise RuntimeError(problem)
    return importlib.import_module("graphviz")


def draw(tensor_or_node: Any, names: Names | None = None, depth: int | None = None) -> Drawing:
    """The backward graph of a tensor (or from a ``grad_fn`` node) as a ``Drawing``;
    ``names`` labels tensors as ``walk`` does, ``depth`` keeps that many levels."""
    graph = walk(tensor_or_node, names)
    return Drawing(graph if depth is None else truncate(graph, depth))


class Drawing:
    """A drawn backward graph: ``source`` (DOT), ``pipe(format)``, ``render(path)``; an SVG
    in a notebook (``_repr_svg_``), the text tree when Graphviz is missing."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.source = to_dot_picture(graph)

    def pipe(self, format: str = "svg") -> bytes:  # noqa: A002 - graphviz's keyword
        """The picture in ``format`` (svg, png, pdf...), as bytes."""
        graphviz = _require_graphviz()
        try:
            return graphviz.Source(self.source).pipe(format=format)
        except graphviz.ExecutableNotFound:
            raise RuntimeError(graphviz_available() or INSTALL_DOT) from None

    def render(self, path: str | Path, format: str | None = None) -> Path:  # noqa: A002
        """Write the picture to ``path`` (format from ``format``, else the file's suffix,
        else svg); returns the path."""
        target = Path(path)
        fmt = format or target.suffix.lstrip(".") or "svg"
        data = self.pipe(fmt)
        target.write_bytes(data)
        return target

    def _repr_svg_(self) -> str | None:
        if graphviz_available() is not None or len(self.graph.nodes) > NOTEBOOK_MAX_NODES:
            return None  # the notebook falls back to the text tree
        return self.pipe("svg").decode("utf-8")

    def text(self) -> str:
        """The graph as an indented text tree."""
        return text_tree(self.graph)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


# ============================================================================ DOT


def to_dot_picture(graph: Graph) -> str:
    """DOT text for the picture: torchviz's colours, saved tensors as orange boxes, and each
    leaf's and retained tensor's gradient in its box."""
    lines = [
        "digraph tapegrad {",
        '  graph [rankdir="BT"];',
        '  node [shape="box", style="filled", fontname="monospace", fontsize="10", height="0.2"];',
    ]
    for n in graph.nodes:
        label = dot_label(n)
        grad = _gradient_text(n)
        if grad:
            label += f"\ngrad {grad}"
        style = ', style="filled,dashed"' if n.kind == INPUT else ""
        lines.append(f'  n{n.id} [label="{_escape(label)}", fillcolor="{_FILL[n.kind]}"{style}];')
        for i, saved in enumerate(n.saved or []):
            if saved.shape is None:
                continue  # a Python number kept as an attribute, not a tensor
            value = None if saved.value is None else f"= {saved.value}"
            parts = (saved.label, saved.name, _shape(saved.shape), value)
            text = "\n".join(p for p in parts if p is not None)
            lines.append(f'  s{n.id}_{i} [label="{_escape(text)}", fillcolor="{SAVED_FILL}"];')
            lines.append(f"  s{n.id}_{i} -> n{n.id} [style=dotted, arrowhead=none];")
        if n.cut:
            lines.append(f'  cut{n.id} [label="... {n.cut} more", shape="plaintext", style=""];')
            lines.append(f"  cut{n.id} -> n{n.id} [style=dashed];")
    lines += [f"  n{e.target} -> n{e.source};" for e in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _gradient_text(node: GraphNode) -> str | None:
    """The ``.grad`` of a leaf, or of a tensor that retains its gradient, as text."""
    live = node.node
    if live is None:
        return None
    tensors = []
    if node.kind == LEAF:
        tensors.append(getattr(live, "variable", None))
    else:
        tensors += [_retained_tensor(hook) for _, hook in live._pre_hooks or ()]
    for tensor in tensors:
        grad = None if tensor is None else tensor._grad
        if grad is not None:
            return Value.of(grad).text()
    return None


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ============================================================================ text


def text_tree(graph: Graph, max_lines: int = TEXT_MAX_LINES) -> str:
    """An indented tree from the root, depth-first; a node reached again is referred to by
    its number. Iterative, and cut after ``max_lines`` lines."""
    lines: list[str] = []
    numbers: dict[int, int] = {}
    stack: list[tuple[int, int]] = [(graph.root.id, 0)]
    while stack and len(lines) < max_lines:
        node_id, level = stack.pop()
        node = graph.nodes[node_id]
        indent = "  " * min(level, 40)
        if node_id in numbers:
            lines.append(f"{indent}{node.name} #{numbers[node_id]} (shown above)")
            continue
        numbers[node_id] = len(numbers) + 1
        lines.append(f"{indent}{_tree_text(node, numbers[node_id])}")
        stack.extend((e.target, level + 1) for e in reversed(graph.children(node_id)))
    if stack:
        lines.append(f"... ({len(graph.nodes) - len(numbers)} more nodes not shown)")
    return "\n".join(lines)


def _tree_text(node: GraphNode, number: int) -> str:
    if node.kind == INPUT:
        value = node.attrs.get("value")
        what = f"constant {value}" if value is not None else (node.label or "input")
        return f"None #{number}  {what}, needs no gradient"
    parts = [f"{node.name} #{number}"]
    if node.label:
        parts.append(f"-> {node.label}")
    if node.shape is not None:
        parts.append("[" + ", ".join(map(str, node.shape)) + "]")
    grad = _gradient_text(node)
    if grad:
        parts.append(f"grad {grad}")
    return "  ".join(parts)


# ============================================================================ grad_fn nodes


def _node_svg(node: Node) -> str | None:
    if graphviz_available() is not None:
        return None
    return Drawing(walk(node))._repr_svg_()


def _node_text(node: Node) -> str:
    if graphviz_available() is None:
        return repr(node)
    return repr(node) + "\n" + text_tree(walk(node))


register_display(_node_svg, _node_text)  # grad_fn nodes show as the picture in a notebook
