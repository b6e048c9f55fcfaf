"""tapegrad.autograd.graph.draw: the graph as a Graphviz picture, and without Graphviz."""

from __future__ import annotations

import re
import sys

import pytest

import tapegrad as tg
from tapegrad.autograd import graph_draw
from tapegrad.autograd.graph import Drawing, draw, graphviz_available

needs_graphviz = pytest.mark.skipif(
    graphviz_available() is not None, reason="needs the graphviz package and dot"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def blog():
    x1 = tg.ones(2, 2, requires_grad=True)
    x2 = tg.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    y.retain_grad()
    z = y.pow(2) * 3
    z.retain_grad()
    out = z.mean()
    return out, {"x1": x1, "x2": x2, "y": y, "z": z, "out": out}


class Printer:
    """IPython's pretty printer, as far as ``_repr_pretty_`` uses it."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, text: str) -> None:
        self.parts.append(text)


def pretty(obj) -> str:
    printer = Printer()
    obj._repr_pretty_(printer, False)
    return "".join(printer.parts)


def boxes(source: str) -> dict[str, tuple[str, str]]:
    """Node id -> (label, fill colour) from the DOT text."""
    found = {}
    for match in re.finditer(
        r'^  (\w+) \[label="((?:[^"\\]|\\.)*)", fillcolor="(\w+)"', source, re.M
    ):
        found[match.group(1)] = (match.group(2).replace("\\n", "\n"), match.group(3))
    return found


@pytest.fixture
def no_dot(monkeypatch):
    monkeypatch.setattr(graph_draw.shutil, "which", lambda name: None)


@pytest.fixture
def no_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz raises ImportError


# ----------------------------------------------------------------------------- DOT


def test_colours_as_torchviz():
    out, names = blog()
    found = boxes(draw(out, names).source)
    colours = {label.split("\n")[0]: fill for label, fill in found.values()}
    assert colours["out"] == "darkolivegreen1"  # the output
    assert colours["x1"] == colours["x2"] == "lightblue"  # leaves
    assert found["n2"] == ("PowBackward0\n(2, 2)", "lightgrey")
    saved = [label for label, fill in found.values() if fill == "orange"]
    assert sorted(saved) == ["other\n()\n= 3.1", "x1\nself\n(2, 2)", "y\nself\n(2, 2)"]
    assert "style=dotted" in draw(out, names).source


def test_gradients_appear_in_the_boxes_after_backward():
    out, names = blog()
    before = draw(out, names).source
    assert "\\ngrad " not in before
    out.backward()
    found = {label.split("\n")[0]: label for label, _ in boxes(draw(out, names).source).values()}
    assert found["x1"].endswith("grad [2, 2] all 14.415")
    assert found["x2"].endswith("grad 18.6")
    assert found["y"].endswith("grad [2, 2] all 4.65")  # retained
    assert found["z"].endswith("grad [2, 2] all 0.25")
    assert "grad" not in found["out"]  # not retained


def test_text_tree():
    out, names = blog()
    out.backward(retain_graph=True)
    text = repr(draw(out, names))
    assert text.splitlines() == [
        "MeanBackward0 #1  -> out  []",
        "  MulBackward0 #2  -> z  [2, 2]  grad [2, 2] all 0.25",
        "    PowBackward0 #3  [2, 2]",
        "      MulBackward0 #4  -> y  [2, 2]  grad [2, 2] all 4.65",
        "        AccumulateGrad #5  -> x1  [2, 2]  grad [2, 2] all 14.415",
        "        AddBackward0 #6  []",
        "          AccumulateGrad #7  -> x2  []  grad 18.6",
        "          None #8  input, needs no gradient",  # AddBackward0 keeps no operand
        "    None #9  constant 3, needs no gradient",
    ]
    assert pretty(draw(out, names)) == text


def test_text_tree_shows_a_shared_node_once_and_is_cut():
    x = tg.ones(2, requires_grad=True)
    a = x * 2
    text = draw(a + a).text()
    assert "MulBackward0 #2 (shown above)" in text
    y = x
    for _ in range(500):
        y = y * 1.0
    lines = draw(y).text().splitlines()
    assert len(lines) == graph_draw.TEXT_MAX_LINES + 1
    # 500 MulBackward0 nodes, each with a None input for the constant 1.0, and the leaf
    assert lines[-1] == f"... ({1001 - graph_draw.TEXT_MAX_LINES} more nodes not shown)"


# ----------------------------------------------------------------------------- pictures


@needs_graphviz
def test_svg_png_and_files(tmp_path):
    out, names = blog()
    out.backward(retain_graph=True)
    drawing = draw(out, names)
    svg = drawing._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "MeanBackward0" in svg and "14.415" in svg and 'fill="lightblue"' in svg
    assert drawing.pipe("png").startswith(PNG_MAGIC)
    png = drawing.render(tmp_path / "graph.png")
    assert png.read_bytes().startswith(PNG_MAGIC)
    svg_file = drawing.render(tmp_path / "graph", format="svg")
    assert b"<svg" in svg_file.read_bytes()


@needs_graphviz
def test_grad_fn_nodes_display_as_svg_in_a_notebook():
    out, _ = blog()
    svg = out.grad_fn._repr_svg_()
    assert "<svg" in svg and "MeanBackward0" in svg and "AccumulateGrad" in svg
    assert pretty(out.grad_fn) == repr(out.grad_fn)  # the picture shows; text stays torch's


def test_large_graphs_show_as_text_in_a_notebook(monkeypatch):
    monkeypatch.setattr(graph_draw, "NOTEBOOK_MAX_NODES", 3)
    out, _ = blog()
    assert draw(out)._repr_svg_() is None


# ----------------------------------------------------------------------------- without Graphviz


def test_missing_dot_program(no_dot):
    message = graphviz_available()
    assert "dot program" in message and "apt-get install graphviz" in message
    assert "pip install 'tapegrad[viz]'" in message
    out, names = blog()
    drawing = draw(out, names)
    with pytest.raises(RuntimeError, match=re.escape("apt-get install graphviz")):
        drawing.pipe("svg")
    with pytest.raises(RuntimeError, match=re.escape("pip install 'tapegrad[viz]'")):
        drawing.render("never-written.png")
    assert drawing._repr_svg_() is None
    assert pretty(drawing).startswith("MeanBackward0 #1  -> out  []")


def test_missing_python_package(no_package):
    message = graphviz_available()
    assert message.startswith("drawing the graph needs the graphviz Python package")
    assert "pip install 'tapegrad[viz]'" in message
    out, _ = blog()
    with pytest.raises(RuntimeError, match="graphviz Python package"):
        draw(out).pipe()
    assert out.grad_fn._repr_svg_() is None


def test_grad_fn_nodes_fall_back_to_the_text_tree(no_dot):
    out, _ = blog()
    text = pretty(out.grad_fn)
    first, second = text.splitlines()[:2]
    assert first == repr(out.grad_fn)
    assert second == "MeanBackward0 #1  []"
    assert out.grad_fn._repr_svg_() is None


def test_drawing_a_leaf_is_refused():
    with pytest.raises(ValueError, match="needs a grad_fn"):
        draw(tg.ones(2, requires_grad=True))


def test_depth_cuts_the_drawing():
    out, names = blog()
    source = draw(out, names, depth=1).source
    assert "PowBackward0" not in source and 'cut1 [label="... 2 more"' in source


def test_drawing_type_and_reexport():
    out, _ = blog()
    assert isinstance(draw(out), Drawing)
    assert isinstance(draw(out.grad_fn), Drawing)
