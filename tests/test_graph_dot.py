"""tinygrad_nn.graph.dot: DOT pictures, and rendering with or without Graphviz."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tinygrad_nn import Value
from tinygrad_nn.graph import dot as graph_dot
from tinygrad_nn.graph import network_graph, render, to_dot

HAS_DOT = shutil.which("dot") is not None


# -- DOT ------------------------------------------------------------------------------------------------


def test_to_dot_shows_every_node_with_op_value_and_gradient(scalar_graph):
    f, names = scalar_graph
    f.backward()
    dot = to_dot(f, names)
    assert dot.startswith("digraph G {") and dot.rstrip().endswith("}")
    assert dot.count(" -> ") == 7  # a,b -> e; e,c -> d; d -> tanh; tanh,a -> f
    assert 'label="e  [mul]\\ndata -6\\ngrad ' in dot
    assert 'label="a\\ndata 2\\ngrad ' in dot and 'fillcolor="#dbeafe"' in dot  # leaves are coloured
    assert re.search(r'label="f  \[mul\]\\ndata [^"]*\\ngrad 1", penwidth=2', dot)  # the root is bold
    assert "[tanh]" in dot and "[add]" in dot


def test_to_dot_without_backward_shows_a_dash_and_unnamed_nodes_get_v_names():
    x = Value(np.array([1.0, -2.0]))
    y = (x * 3.0).sum()
    dot = to_dot(y)
    assert "grad —" in dot
    assert re.findall(r'label="(v\d+)', dot) == ["v0", "v1", "v2"]


def test_to_dot_draws_constants_and_labels_operand_roles():
    W = Value(np.ones((3, 2)))
    z = np.ones((4, 3)) @ W - 1.0
    dot = to_dot(z.sum(), {"W": W})
    assert 'label="const (4, 3) [1, 1, 1, 1, …]", shape=plaintext' in dot
    assert re.search(r'c\d+ -> n\d+ \[style=dashed, color="#999999", label="A"\]', dot)
    assert re.search(r'n0 -> n\d+ \[label="B"\]', dot)  # W is the right operand of @
    assert 'label="b"]' in dot  # the constant 1 is sub's second operand


def test_to_dot_escapes_quotes_in_names():
    x = Value(1.0)
    dot = to_dot(x * 2.0, {'the "x"': x})
    assert 'label="the \\"x\\"\\ndata 1' in dot


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_graphviz_accepts_the_dot_text():
    E, names = network_graph()
    done = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(E, names), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout and "z1" in done.stdout


# -- render ---------------------------------------------------------------------------------------------


def test_render_without_graphviz_writes_dot_only(tmp_path, monkeypatch, scalar_graph):
    monkeypatch.setattr(graph_dot.shutil, "which", lambda name: None)
    f, names = scalar_graph
    written = render(f, tmp_path / "g.svg", names)
    assert written.dot == tmp_path / "g.dot" and written.image is None
    assert written.dot.read_text(encoding="utf-8").startswith("digraph G {")
    assert not (tmp_path / "g.svg").exists()


def test_render_dot_format_and_bad_format(tmp_path, scalar_graph):
    f, _ = scalar_graph
    written = render(f, tmp_path / "g.dot")
    assert written.image is None and written.dot.exists()
    with pytest.raises(ValueError, match="render: format must be 'svg', 'png' or 'dot', got 'jpg'"):
        render(f, tmp_path / "g.jpg")


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_render_with_graphviz_writes_the_picture(tmp_path, suffix):
    E, names = network_graph()
    written = render(E, tmp_path / f"net.{suffix}", names)
    assert written.image == tmp_path / f"net.{suffix}"
    head = written.image.read_bytes()[:200]
    assert (b"<svg" in head or b"<?xml" in head) if suffix == "svg" else head.startswith(b"\x89PNG")
