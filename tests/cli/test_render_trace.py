"""``cli/render_trace``: what ``tapegrad graph --trace`` and ``--format svg|png`` print."""

from __future__ import annotations

import json

import pytest

import tapegrad as tg
from tapegrad.autograd import graph_draw
from tapegrad.autograd.graph import Trace, draw, graphviz_available, trace
from tapegrad.cli import render_trace

needs_graphviz = pytest.mark.skipif(
    graphviz_available() is not None, reason="needs the graphviz package and dot"
)


def blog():
    x1 = tg.ones(2, 2, requires_grad=True)
    x2 = tg.tensor(1.1, requires_grad=True)
    y = x1 * (x2 + 2)
    y.retain_grad()
    z = y.pow(2) * 3
    z.retain_grad()
    out = z.mean()
    return out, {"x1": x1, "x2": x2, "y": y, "z": z, "out": out}


def test_plain_trace_text(capsys):
    out, names = blog()
    t = trace(out, names=names)
    render_trace.print_trace(t, terminal=False, header="out.backward()\n\n")
    text = capsys.readouterr().out
    assert text.startswith("out.backward()\n\nbackward from out (MeanBackward0)")
    assert text == "out.backward()\n\n" + t.to_text()
    assert "  rule  self: g × other = 0.25 × 3 = 0.75\n" in text
    assert "  .grad x2.grad: None -> 18.6\n" in text


def test_styled_trace_has_the_same_words(capsys):
    out, names = blog()
    t = trace(out, names=names)
    render_trace.print_trace(t, terminal=True)
    styled = capsys.readouterr().out
    assert styled.splitlines() == t.to_text().splitlines()


def test_json_trace(capsys):
    out, names = blog()
    t = trace(out, names=names)
    render_trace.print_trace(t, terminal=False, as_json=True)
    text = capsys.readouterr().out
    assert Trace.from_dict(json.loads(text)) == t


@needs_graphviz
def test_picture_to_a_file(tmp_path, capsys):
    out, names = blog()
    target = tmp_path / "graph.png"
    render_trace.write_picture(draw(out, names), "png", str(target))
    assert target.read_bytes().startswith(b"\x89PNG")
    render_trace.write_picture(draw(out, names), "svg", None)
    assert "<svg" in capsys.readouterr().out


def test_missing_graphviz_exits_2_naming_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(graph_draw.shutil, "which", lambda name: None)
    out, _ = blog()
    with pytest.raises(SystemExit) as exc:
        render_trace.write_picture(draw(out), "svg", str(tmp_path / "g.svg"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: drawing the graph needs Graphviz's dot program")
    assert "apt-get install graphviz" in err and "pip install 'tapegrad[viz]'" in err
    assert not (tmp_path / "g.svg").exists()


def test_png_is_not_written_to_a_terminal(capsys):
    out, _ = blog()
    with pytest.raises(SystemExit) as exc:
        render_trace.write_picture(draw(out), "png", None, terminal=True)
    assert exc.value.code == 2
    assert "give --out FILE" in capsys.readouterr().err
