"""tapegrad.autograd.graph: the walk of a backward graph into plain data, JSON and DOT."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function, GradcheckError, gradcheck
from tapegrad.autograd import graph as G
from tapegrad.autograd.gradcheck import check_gradients
from tapegrad.autograd.graph import BACKWARD, INPUT, LEAF, OUTPUT, to_dot, to_json, truncate, walk

BLOG_ORDER = [  # depth-first, next_functions order, as the blog walks out$grad_fn
    "MeanBackward0",
    "MulBackward0",
    "PowBackward0",
    "MulBackward0",
    "AccumulateGrad",
    "AddBackward0",
    "AccumulateGrad",
]


def blog():
    x1 = tg.ones(2, 2, requires_grad=True)
    x2 = tg.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    z = y.pow(2) * 3
    out = z.mean()
    return out, {"x1": x1, "x2": x2, "y": y, "z": z, "out": out}


def depth_first_names(graph: G.Graph) -> list[str]:
    order, stack, seen = [], [graph.root.id], set()
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        order.append(graph.nodes[node_id])
        stack.extend(e.target for e in reversed(graph.children(node_id)))
    return [n.name for n in order if n.kind != INPUT]


def chain(n: int) -> tuple[tg.Tensor, tg.Tensor]:
    x = tg.ones(3, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    return x, y.sum()


# ----------------------------------------------------------------------------- the walk


def test_blog_chain_names_and_order():
    out, names = blog()
    graph = walk(out.grad_fn, names)
    assert depth_first_names(graph) == BLOG_ORDER
    assert graph.root.kind == OUTPUT and graph.root.label == "out"
    assert [n.id for n in graph.nodes] == list(range(len(graph.nodes)))


def test_blog_leaves_labels_shapes_and_kinds():
    out, names = blog()
    graph = walk(out, names)
    leaves = {n.label: n for n in graph.nodes if n.kind == LEAF}
    assert set(leaves) == {"x1", "x2"}
    assert leaves["x1"].shape == [2, 2] and leaves["x2"].shape == []
    assert leaves["x1"].node.variable is names["x1"]
    labelled_ops = {n.label: n.name for n in graph.nodes if n.kind == BACKWARD and n.label}
    assert labelled_ops == {"y": "MulBackward0", "z": "MulBackward0"}


def test_saved_values_and_attributes_come_from_the_node():
    out, names = blog()
    graph = walk(out, names)
    by_label = {n.label: n for n in graph.nodes}
    pow_node = next(n for n in graph.nodes if n.name == "PowBackward0")
    assert [(s.name, s.shape, s.label) for s in pow_node.saved] == [("self", [2, 2], "y")]
    assert pow_node.attrs == {"exponent": 2}
    # y = x1 * (x2 + 2): self is x1, other the 0-d (x2 + 2) = 3.1
    saved = {s.name: s for s in by_label["y"].saved}
    assert saved["self"].label == "x1" and saved["other"].value == pytest.approx(3.1)
    mean = graph.root
    assert mean.saved == [] and mean.attrs == {"shape": [2, 2]}
    add = next(n for n in graph.nodes if n.name == "AddBackward0")
    assert add.saved == []


def test_inputs_needing_no_gradient_are_none_nodes():
    out, names = blog()
    graph = walk(out, names)
    inputs = [n for n in graph.nodes if n.kind == INPUT]
    assert [n.name for n in inputs] == ["None", "None"]
    constant = next(n for n in inputs if n.attrs)
    assert constant.attrs == {"value": 3}
    edge = next(e for e in graph.edges if e.target == constant.id)
    consumer = graph.nodes[edge.source].node
    assert consumer.next_functions[edge.input] == (None, 0)


def test_edges_mirror_next_functions():
    out, names = blog()
    graph = walk(out, names)
    for node in graph.nodes:
        if node.node is None:
            continue
        pairs = node.node.next_functions
        edges = graph.children(node.id)
        assert [e.input for e in edges] == list(range(len(pairs)))
        for edge, (child, index) in zip(edges, pairs):
            assert edge.index == index
            assert graph.nodes[edge.target].node is child


def test_every_node_has_a_sentence_and_unknown_names_get_the_fallback():
    out, names = blog()
    for node in walk(out, names).nodes:
        assert node.description.endswith(".")
    assert "Frob" in G._fallback_description("FrobBackward0")


def test_a_node_reached_twice_is_one_node_with_two_edges():
    x = tg.ones(2, requires_grad=True)
    a = x * 2
    b = a + a
    graph = walk(b)
    muls = [n for n in graph.nodes if n.name == "MulBackward0"]
    assert len(muls) == 1
    assert [e.target for e in graph.children(graph.root.id)] == [muls[0].id] * 2


def test_names_accepts_tensor_keys_ids_name_keys_and_pairs():
    out, names = blog()
    x1 = names["x1"]
    for spec in ({x1: "x1"}, {id(x1): "x1"}, {"x1": x1}, [("x1", x1)]):
        graph = walk(out, spec)
        assert any(n.label == "x1" and n.kind == LEAF for n in graph.nodes)


def test_walk_of_a_leaf_explains():
    with pytest.raises(ValueError, match="grad_fn"):
        walk(tg.ones(2, requires_grad=True))


def test_saved_is_none_after_backward_freed_it():
    out, names = blog()
    out.backward()
    pow_node = next(n for n in walk(out, names).nodes if n.name == "PowBackward0")
    assert pow_node.saved is None


def test_data_inputs_are_labelled_through_saved_arrays():
    x = tg.randn(4, 3)
    w = tg.randn(3, 2, requires_grad=True)
    loss = x.mm(w).sum()
    graph = walk(loss, {"x": x, "w": w})
    data = [n for n in graph.nodes if n.kind == INPUT]
    assert [(n.label, n.shape) for n in data] == [("x", [4, 3])]


# ----------------------------------------------------------------------------- custom Functions


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.power = 3
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x**2  # deliberately wrong: d(x^3)/dx is 3x^2


def test_custom_function_node_is_described():
    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    graph = walk(Cube.apply(x).sum(), {x: "x"})
    node = graph.nodes[1]
    assert node.name == "CubeBackward"
    assert node.description == G.CUSTOM_DESCRIPTION
    assert [(s.name, s.shape, s.label) for s in node.saved] == [("saved_tensors[0]", [3], "x")]
    assert node.attrs == {"power": 3}


def test_gradcheck_catches_a_wrong_custom_backward():
    x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    assert gradcheck(Cube.apply, (x,))
    assert gradcheck(WrongCube.apply, (x,), raise_exception=False) is False
    with pytest.raises(GradcheckError, match="numerical: .*analytical"):
        gradcheck(WrongCube.apply, (x,))
    report = check_gradients(WrongCube.apply, (x,))
    numerical, analytical = report.worst
    assert not report.ok and analytical == pytest.approx(numerical * 2 / 3)


# ----------------------------------------------------------------------------- JSON, DOT, cuts


def test_json_round_trips():
    out, names = blog()
    graph = walk(out, names)
    data = json.loads(to_json(graph))
    assert data == graph.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert {"id", "name", "shape", "kind", "saved", "description"} <= set(data["nodes"][0])
    assert data["edges"][0] == {"from": 0, "to": 1, "index": 0, "input": 0}


def test_dot_styles_nodes_like_torchviz():
    out, names = blog()
    dot = to_dot(walk(out, names))
    assert dot.startswith("digraph tapegrad {") and dot.rstrip().endswith("}")
    assert 'label="out\\nMeanBackward0\\n()", fillcolor="darkolivegreen1"' in dot
    assert 'label="x1\\nAccumulateGrad\\n(2, 2)", fillcolor="lightblue"' in dot
    assert 'fillcolor="lightgrey"' in dot
    assert "n1 -> n0;" in dot


def test_truncate_keeps_levels_and_counts_what_was_cut():
    out, names = blog()
    graph = walk(out, names)
    cut = truncate(graph, 2)
    assert max(n.depth for n in cut.nodes) == 2
    assert cut.hidden == len(graph.nodes) - len(cut.nodes) > 0
    pow_node = next(n for n in cut.nodes if n.name == "PowBackward0")
    assert pow_node.cut == 1
    assert all(e.source < len(cut.nodes) and e.target < len(cut.nodes) for e in cut.edges)
    assert truncate(graph, 100).hidden == 0


def test_ten_thousand_node_chain_walks_and_cuts():
    _, loss = chain(10_000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # the walk must not recurse
    try:
        graph = walk(loss)
        small = truncate(graph, 3)
    finally:
        sys.setrecursionlimit(limit)
    assert len(graph.nodes) == 1 + 10_000 * 2 + 1  # sum, muls, constants, the leaf
    assert graph.nodes[-1].kind in (LEAF, INPUT)
    assert max(n.depth for n in graph.nodes) == 10_001
    assert small.hidden == len(graph.nodes) - len(small.nodes)
    assert json.loads(to_json(small))["hidden"] == small.hidden


# ----------------------------------------------------------------------------- promises


def test_graph_module_imports_no_cli_libraries():
    code = (
        "import sys, tapegrad.autograd.graph; "
        "print(sorted(m for m in ('click', 'rich', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_graph_module_has_no_recursive_function():
    from tapegrad.autograd import graph_walk

    tree = ast.parse(Path(graph_walk.__file__).read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            calls = {
                c.func.id
                for c in ast.walk(fn)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
            }
            assert fn.name not in calls, fn.name


def test_plain_values_are_json_friendly():
    values = [np.float32(3.1), np.arange(3), np.zeros((4, 5)), slice(1, None, 2), Ellipsis, (1, 2)]
    assert [G._plain(v) for v in values] == [
        3.1,
        [0, 1, 2],
        "array[4, 5] float64",
        "1::2",
        "...",
        [1, 2],
    ]
