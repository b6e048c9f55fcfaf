"""A walked ``Graph`` as text: JSON and Graphviz DOT."""

from __future__ import annotations

import json

from tapegrad.autograd.graph_model import BACKWARD, INPUT, LEAF, OUTPUT, Graph, GraphNode


def to_json(graph: Graph, indent: int | None = None) -> str:
    """The graph as JSON text (see ``Graph.to_dict``)."""
    return json.dumps(graph.to_dict(), indent=indent)


# torchviz's palette: leaves light blue, the output green, backward nodes grey.
_DOT_STYLE = {
    OUTPUT: 'fillcolor="darkolivegreen1"',
    BACKWARD: 'fillcolor="lightgrey"',
    LEAF: 'fillcolor="lightblue"',
    INPUT: 'fillcolor="white", style="filled,dashed"',
}


def to_dot(graph: Graph) -> str:
    """A Graphviz ``digraph`` (plain text); edges point the way values flowed forward."""
    lines = [
        "digraph tapegrad {",
        '  graph [rankdir="BT"];',
        '  node [shape="box", style="filled", fontname="monospace", fontsize="10", height="0.2"];',
    ]
    for n in graph.nodes:
        lines.append(f'  n{n.id} [label="{_dot_escape(dot_label(n))}", {_DOT_STYLE[n.kind]}];')
        if n.cut:
            lines.append(
                f'  cut{n.id} [label="... {n.cut} more", shape="plaintext", style=""];'
                f"\n  cut{n.id} -> n{n.id} [style=dashed];"
            )
    lines += [f"  n{e.target} -> n{e.source};" for e in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_label(node: GraphNode) -> str:
    """The text of one DOT box: label, name, shape (and a constant's value)."""
    parts = [node.label] if node.label else []
    if node.kind != INPUT or not node.label:
        parts.append(node.name)
    if node.shape is not None:
        parts.append("(" + ", ".join(map(str, node.shape)) + ")")
    if "value" in node.attrs:
        parts.append(f"= {node.attrs['value']}")
    return "\n".join(parts)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
