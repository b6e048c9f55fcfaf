"""Look at a backward graph: walk it into plain data, trace a backward pass, draw it.

``walk(out.grad_fn)`` follows ``next_functions`` breadth-first (iteratively, so a 100,000-node
chain is fine) and returns a ``Graph`` of ``GraphNode``/``GraphEdge`` records holding only
plain values (names, shapes, saved-tensor summaries, attributes). ``to_json``/``to_dot`` turn a
graph into text; ``truncate`` keeps the first N levels. ``trace(out)`` runs ``out.backward()``
and records each step the engine takes; ``draw(out)`` renders the graph with Graphviz.

The walk lives in ``graph_walk``, the records and ``truncate`` in ``graph_model``, the text
forms in ``graph_render``, the trace in ``trace`` and the picture in ``graph_draw``; this
module re-exports them so ``tapegrad.autograd.graph`` stays the one place to import from.
"""

from __future__ import annotations

from tapegrad.autograd.graph_draw import Drawing, draw, graphviz_available
from tapegrad.autograd.graph_model import (
    BACKWARD,
    INPUT,
    LEAF,
    OUTPUT,
    Graph,
    GraphEdge,
    GraphNode,
    SavedValue,
    truncate,
)
from tapegrad.autograd.graph_render import dot_label, to_dot, to_json
from tapegrad.autograd.graph_walk import (
    CUSTOM_DESCRIPTION,
    DESCRIPTIONS,
    INPUT_DESCRIPTION,
    OUT,
    Names,
    _fallback_description,  # noqa: F401 - tests reach it through this module
    _plain,  # noqa: F401 - tests reach it through this module
    walk,
)
from tapegrad.autograd.trace import trace
from tapegrad.autograd.trace_model import (
    Accumulation,
    HookEffect,
    Send,
    Step,
    Trace,
    Value,
)

__all__ = [
    "BACKWARD",
    "CUSTOM_DESCRIPTION",
    "DESCRIPTIONS",
    "INPUT",
    "INPUT_DESCRIPTION",
    "LEAF",
    "OUT",
    "OUTPUT",
    "Accumulation",
    "Drawing",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "HookEffect",
    "Names",
    "SavedValue",
    "Send",
    "Step",
    "Trace",
    "Value",
    "dot_label",
    "draw",
    "graphviz_available",
    "to_dot",
    "to_json",
    "trace",
    "truncate",
    "walk",
]
