"""The plain-data backward graph that ``walk`` builds: node kinds, records, ``truncate``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tapegrad.engine.node import Node

OUTPUT, BACKWARD, LEAF, INPUT = "output", "backward", "leaf", "input"


@dataclass
class SavedValue:
    """One value a node kept for backward: an array's shape and dtype, or a scalar's value."""

    name: str
    shape: list[int] | None = None
    dtype: str | None = None
    value: Any = None
    label: str | None = None  # the name given to this tensor in ``walk(names=...)``


@dataclass
class GraphNode:
    """A node of the walked graph, as plain data (``node`` keeps the live object)."""

    id: int
    name: str
    kind: str  # "output" (the root), "backward", "leaf" (AccumulateGrad), "input" (no grad)
    shape: list[int] | None
    dtype: str | None
    depth: int  # shortest number of edges from the root
    label: str | None = None
    saved: list[SavedValue] | None = field(default_factory=list)  # None: freed by backward
    attrs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    node: Node | None = field(default=None, repr=False, compare=False)
    cut: int = 0  # number of edges out of this node dropped by ``truncate``


@dataclass
class GraphEdge:
    """``source.next_functions[input] == (target, index)``: gradient flows source -> target."""

    source: int
    target: int
    index: int
    input: int


@dataclass
class Graph:
    """The nodes (root first, ``nodes[i].id == i``) and edges of a walked backward graph."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    hidden: int = 0  # nodes left out by ``truncate``
    _children: list[list[GraphEdge]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def root(self) -> GraphNode:
        """The node the walk started from."""
        return self.nodes[0]

    def children(self, node_id: int) -> list[GraphEdge]:
        """The edges out of ``node_id``, in ``next_functions`` order."""
        if self._children is None:
            self._children = [[] for _ in self.nodes]
            for edge in self.edges:
                self._children[edge.source].append(edge)
        return self._children[node_id]

    def to_dict(self) -> dict[str, Any]:
        """``{"nodes": [...], "edges": [{"from", "to", "index", "input"}], ...}``."""
        nodes = []
        for n in self.nodes:
            d = asdict(replace(n, node=None))
            del d["node"]
            nodes.append(d)
        edges = [
            {"from": e.source, "to": e.target, "index": e.index, "input": e.input}
            for e in self.edges
        ]
        return {"root": 0, "nodes": nodes, "edges": edges, "hidden": self.hidden}


def truncate(graph: Graph, depth: int) -> Graph:
    """The nodes at most ``depth`` edges from the root; ``cut`` counts each node's dropped
    edges and ``hidden`` the nodes left out."""
    keep = [n.depth <= depth for n in graph.nodes]
    new_id: dict[int, int] = {}
    nodes: list[GraphNode] = []
    for n, kept in zip(graph.nodes, keep):
        if kept:
            new_id[n.id] = len(nodes)
            nodes.append(replace(n, id=len(nodes), cut=0))
    edges = []
    for e in graph.edges:
        if not keep[e.source]:
            continue
        if keep[e.target]:
            edges.append(replace(e, source=new_id[e.source], target=new_id[e.target]))
        else:
            nodes[new_id[e.source]].cut += 1
    return Graph(nodes, edges, hidden=len(graph.nodes) - len(nodes) + graph.hidden)
