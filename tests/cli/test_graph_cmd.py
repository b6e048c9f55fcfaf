"""``tapegrad graph``: the blog's tree and gradients, DOT, JSON, --depth, large graphs."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

import tapegrad as tg
from tapegrad.autograd.graph import walk
from tapegrad.cli import inspect_cmd
from tapegrad.cli.main import main

BLOG_ORDER = [
    "MeanBackward0",
    "MulBackward0",
    "PowBackward0",
    "MulBackward0",
    "AccumulateGrad",
    "AddBackward0",
    "AccumulateGrad",
]
GRADIENTS = """\
out.backward()
x1.grad
tensor([[14.4150, 14.4150],
        [14.4150, 14.4150]])
x2.grad
tensor(18.6000)
y.grad
tensor([[4.6500, 4.6500],
        [4.6500, 4.6500]])
z.grad
tensor([[0.2500, 0.2500],
        [0.2500, 0.2500]])
"""
NODE_LINE = re.compile(r"(?:[│├└─ ]*)(\w+) #(\d+)")


def run(*args: str):
    return CliRunner().invoke(main, ["graph", *args])


def node_lines(text: str) -> list[str]:
    """The head line of each printed node (not its detail lines), tree guides removed."""
    heads = []
    for line in text.splitlines():
        match = NODE_LINE.match(line)
        if match and match.group(1) != "None":
            heads.append(line[match.start(1) :])
    return heads


# ----------------------------------------------------------------------------- a tiny DOT parser

TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<arrow>->)|(?P<id>[A-Za-z_][\w.]*|-?\d+(?:\.\d+)?)'
    r"|(?P<punct>[{}\[\];,=]))"
)


def tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        assert match, f"bad DOT at {text[pos : pos + 30]!r}"
        out.append(match.group(match.lastgroup))
        pos = match.end()
    return out


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """Nodes (with attributes) and edges of a ``digraph``; asserts on any syntax error."""
    toks = tokens(text)
    assert toks[0] == "digraph" and toks[2] == "{" and toks[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    i = 3

    def attrs(i: int) -> tuple[dict[str, str], int]:
        found: dict[str, str] = {}
        if toks[i] != "[":
            return found, i
        i += 1
        while toks[i] != "]":
            key, eq, value = toks[i : i + 3]
            assert eq == "=", toks[i : i + 3]
            found[key] = value.strip('"')
            i += 3
            if toks[i] == ",":
                i += 1
        return found, i + 1

    while toks[i] != "}":
        name = toks[i]
        if name in ("graph", "node", "edge"):
            _, i = attrs(i + 1)
        elif toks[i + 1] == "->":
            edges.append((name, toks[i + 2]))
            _, i = attrs(i + 3)
        else:
            nodes[name], i = attrs(i + 1)
        assert toks[i] == ";", toks[i : i + 3]
        i += 1
    assert i == len(toks) - 1
    for a, b in edges:
        assert a in nodes and b in nodes, (a, b)
    return nodes, edges


# ----------------------------------------------------------------------------- the blog's tree


def test_default_prints_the_blog_chain_then_its_gradients():
    result = run()
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "y = x1 * (x2 + 2)\nz = y.pow(2) * 3\nout = z.mean()" in out
    heads = node_lines(out)
    assert [h.split()[0] for h in heads] == BLOG_ORDER
    assert heads[0].startswith("MeanBackward0 #1 -> out  [] float32")
    assert "AccumulateGrad #5 -> x1  [2, 2] float32  leaf" in heads
    assert "AccumulateGrad #7 -> x2  [] float32  leaf" in heads
    assert out.endswith(GRADIENTS)


def test_each_op_node_says_what_it_saved_and_what_it_does():
    out = run("--no-values").stdout
    assert out.count("saved: ") == 5  # five op nodes; leaves save nothing of their own
    assert out.count("backward: ") == 7
    assert "saved: nothing (keeps shape=[2, 2])" in out
    assert "saved: self (y) [2, 2] float32 (keeps exponent=2)" in out
    assert "saved: other = 3\n" in out
    assert "backward: Spreads the gradient evenly over every input element" in out
    assert "None #9  constant 3, needs no gradient" in out


def test_no_values_skips_backward():
    result = run("--no-values")
    assert result.exit_code == 0
    assert "backward()" not in result.stdout and ".grad\n" not in result.stdout


def test_depth_cuts_the_tree_and_says_so():
    result = run("--depth", "2", "--no-values")
    assert result.exit_code == 0, result.output
    heads = node_lines(result.stdout)
    assert [h.split()[0] for h in heads] == ["MeanBackward0", "MulBackward0", "PowBackward0"]
    assert "... 1 input below not shown (cut at --depth 2)" in result.stdout
    assert "(--depth 2: 5 of 9 nodes not shown)" in result.stdout


def test_depth_zero_prints_only_the_root():
    result = run("--depth", "0", "--no-values")
    assert [h.split()[0] for h in node_lines(result.stdout)] == ["MeanBackward0"]


def test_a_node_reached_twice_is_referenced(monkeypatch: pytest.MonkeyPatch):
    def shared():
        x = tg.ones(2, requires_grad=True)
        a = x * 2
        out = (a + a).sum()
        return out, {"out": out, "x": x, "a": a}

    monkeypatch.setattr(inspect_cmd, "blog_example", shared)
    result = run("--no-values")
    assert result.exit_code == 0, result.output
    assert "MulBackward0 #3 -> a" in result.stdout
    assert "MulBackward0 #3 (shown above)" in result.stdout
    assert result.stdout.count("AccumulateGrad #") == 1


# ----------------------------------------------------------------------------- DOT and JSON


def test_dot_parses_as_a_coloured_digraph():
    result = run("--format", "dot")
    assert result.exit_code == 0, result.output
    nodes, edges = parse_dot(result.stdout)
    labels = {attrs["label"].split("\\n")[0]: attrs for attrs in nodes.values()}
    assert labels["out"]["fillcolor"] == "darkolivegreen1"
    assert labels["x1"]["fillcolor"] == labels["x2"]["fillcolor"] == "lightblue"
    assert sum(a["fillcolor"] == "lightgrey" for a in nodes.values()) == 4
    assert len(edges) == 8
    assert "tensor(" not in result.stdout  # no gradients mixed into the DOT


def test_dot_with_depth_marks_the_cut():
    nodes, _ = parse_dot(run("--format", "dot", "--depth", "1").stdout)
    assert any(a.get("label", "").startswith("... ") for a in nodes.values())


def test_json_round_trips_and_matches_the_library_walk():
    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert json.loads(json.dumps(data)) == data
    out, names = inspect_cmd.blog_example()
    assert data == walk(out, names).to_dict()
    for node in data["nodes"]:
        assert {"id", "name", "shape", "kind", "saved", "description"} <= set(node)
    for edge in data["edges"]:
        assert set(edge) == {"from", "to", "index", "input"}
    names_in_order = [n["name"] for n in data["nodes"] if n["kind"] != "input"]
    assert sorted(names_in_order) == sorted(BLOG_ORDER)


def test_json_with_depth_counts_hidden_nodes():
    data = json.loads(run("--format", "json", "--depth", "1").stdout)
    assert [n["name"] for n in data["nodes"]] == ["MeanBackward0", "MulBackward0"]
    assert data["hidden"] == 7
    assert data["nodes"][1]["cut"] == 2


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args", [["--format", "gif"], ["--depth", "-1"], ["--depth", "x"], ["--nope"]]
)
def test_usage_errors_exit_2(args: list[str]):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_missing_config_is_a_usage_error():
    result = run("missing.yaml")
    assert result.exit_code == 2
    assert "missing.yaml" in result.stderr


# ----------------------------------------------------------------------------- big graphs


def _chain(n: int):
    def make():
        x = tg.ones(3, requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0001
        out = y.sum()
        return out, {"out": out, "x": x}

    return make


def test_ten_thousand_node_chain_prints(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(inspect_cmd, "blog_example", _chain(10_000))
    start = time.perf_counter()
    result = run("--no-values")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    heads = node_lines(result.stdout)
    assert len(heads) == 1 + 10_000 + 1
    assert heads[-1].startswith("AccumulateGrad #") and "-> x  [3] float32  leaf" in heads[-1]
    assert "(depth 10001)" in heads[-1]  # past the indentation cap, the depth is spelled out
    assert max(len(line) for line in result.stdout.splitlines()) < 400
    assert elapsed < 10


def test_ten_thousand_node_chain_with_depth(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(inspect_cmd, "blog_example", _chain(10_000))
    result = run("--depth", "3", "--no-values")
    assert result.exit_code == 0, result.output
    assert len(node_lines(result.stdout)) == 4
    assert result.stdout.rstrip().endswith("(--depth 3: 19996 of 20002 nodes not shown)")
    data = json.loads(run("--format", "json", "--depth", "3").stdout)
    assert data["hidden"] == 19996


def test_terminal_output_is_styled(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(inspect_cmd, "is_terminal", lambda: True)
    result = run()
    assert result.exit_code == 0, result.output
    assert [h.split()[0] for h in node_lines(result.stdout)] == BLOG_ORDER
    assert "tensor(18.6000)" in result.stdout


# ----------------------------------------------------------------------------- CONFIG

CONFIG = """\
seed: 0
data: {kind: linear, n: 10, d_in: 3}
model: {hidden: [6], activation: relu}
train: {epochs: 1, loss: sse, batch_size: 4}
"""


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return str(path)


def test_config_graph_goes_down_to_each_parameter(config: str):
    result = run(config, "--no-values")
    assert result.exit_code == 0, result.output
    heads = node_lines(result.stdout)
    names = [h.split()[0] for h in heads]
    assert names[:3] == ["SumBackward0", "PowBackward0", "SubBackward0"]
    assert {"AddmmBackward0", "ReluBackward0", "TBackward0"} <= set(names)
    leaves = sorted(h.split(" -> ")[1].split()[0] for h in heads if h.startswith("AccumulateGrad"))
    assert leaves == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert "input x [4, 3] float32, needs no gradient" in result.stdout  # one batch of 4


def test_config_graph_values_are_parameter_gradients(config: str):
    result = run(config)
    assert result.exit_code == 0, result.output
    tail = result.stdout.split("loss.backward()\n")[1]
    assert tail.startswith("0.weight.grad  [6, 3]  norm ")  # 18 values: summarized
    assert "2.bias.grad\ntensor([" in tail


def test_config_graph_json_labels_parameters(config: str):
    data = json.loads(run(config, "--format", "json").stdout)
    labels = {n["label"] for n in data["nodes"] if n["kind"] == "leaf"}
    assert labels == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert any(n["kind"] == "input" and n["label"] == "x" for n in data["nodes"])


def test_config_graph_dot_parses(config: str):
    nodes, edges = parse_dot(run(config, "--format", "dot").stdout)
    assert sum(a["fillcolor"] == "lightblue" for a in nodes.values()) == 4
    assert edges


def test_config_error_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: {hiden: [3]}\n")
    result = run(str(path))
    assert result.exit_code == 2
    assert "did you mean model.hidden" in result.stderr


# ----------------------------------------------------------------------------- --trace, pictures


def test_trace_walks_the_blog_backward_pass_in_engine_order():
    result = run("--trace")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "out.backward(), step by step\n" in out
    steps = re.findall(r"^step (\d+)  (\w+)", out, flags=re.M)
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))
    assert [name for _, name in steps][:4] == BLOG_ORDER[:4]
    for number in ("0.25", "4.65", "14.415", "18.6"):
        assert number in out
    assert out.rstrip().endswith("x2.grad: None -> 18.6")


def test_trace_json_is_data():
    result = run("--trace", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["root"] == "MeanBackward0"
    assert len(data["steps"]) == len(BLOG_ORDER)


def test_trace_of_a_config_summarizes_large_gradients():
    result = run("--trace", "configs/spirals.yaml")
    assert result.exit_code == 0, result.output
    assert "step 1  NllLossBackward0" in result.stdout
    assert " norm " in result.stdout  # tensors over 16 elements are summarized


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "--format", "dot"], "--trace prints text or JSON"),
        (["--out", "g.svg"], "--out writes a picture"),
        (["--format", "json", "--out", "g.svg"], "--out writes a picture"),
    ],
)
def test_option_clashes_exit_2(args: list[str], message: str):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_picture_without_graphviz_exits_2_naming_what_to_install(monkeypatch, tmp_path):
    from tapegrad.cli import render_trace

    monkeypatch.setattr(render_trace, "graphviz_available", lambda: "graphviz is missing: X")
    result = run("--format", "svg", "--out", str(tmp_path / "g.svg"))
    assert result.exit_code == 2
    assert "graphviz is missing: X" in result.output
    assert not (tmp_path / "g.svg").exists()


def test_svg_picture_of_the_blog_graph(tmp_path):
    from tapegrad.autograd.graph import graphviz_available

    if graphviz_available() is not None:
        pytest.skip("needs the graphviz package and Graphviz's dot")
    target = tmp_path / "g.svg"
    result = run("--format", "svg", "--out", str(target))
    assert result.exit_code == 0, result.output
    svg = target.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for label in ("MeanBackward0", "x1", "x2", "14.415"):
        assert label in svg
