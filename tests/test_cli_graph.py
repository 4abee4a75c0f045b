"""The command line's ``tinygrad-nn graph``: pictures, the trace, and one-line errors for bad input."""

from __future__ import annotations

import shutil

import pytest

from tinygrad_nn.cli import main
from tinygrad_nn.graph import dot as graph_dot

HAS_DOT = shutil.which("dot") is not None
LONG_SUM = "+".join(["x"] * 5000)


def test_cli_graph_default_writes_dot_and_traces(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "--trace"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("backward pass of f, in reverse topological order")
    assert "[1] f = tanh(v3) = 0.7071    grad ∂f/∂f = 1" in out
    assert "x1.grad now -1.5" in out and "w1.grad now 1" in out  # micrograd's neuron
    text = (tmp_path / "graph.dot").read_text(encoding="utf-8")
    assert "[tanh]" in text and "grad 0.5" in text
    assert ("wrote graph.dot and graph.svg" in out) == HAS_DOT


def test_cli_graph_without_graphviz_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(graph_dot.shutil, "which", lambda name: None)
    assert main(["graph", "--out", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "Graphviz's dot is not on the PATH" in out
    assert (tmp_path / "g.dot").exists() and not (tmp_path / "g.png").exists()


def test_cli_graph_expression_to_stdout(capsys):
    assert main(["graph", "--expr", "(a*b + 10) * -2", "a=2", "b=-3", "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph G {")
    assert 'label="a\\ndata 2\\ngrad 6"' in out and 'label="b\\ndata -3\\ngrad -4"' in out


def test_cli_graph_network(tmp_path, capsys, fast_path):  # the picture shows the fused nodes
    assert main(["graph", "--network", "--out", str(tmp_path / "net.dot")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'net.dot'}\n"
    text = (tmp_path / "net.dot").read_text(encoding="utf-8")
    assert "z1  [linear]" in text and "O2  [sigmoid]" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expr", "__import__('os')"], "expression: unsupported call"),
        (["--expr", "a * c", "a=1"], "expression: unknown variable 'c'"),
        (["a="], "argument NAME=NUMBER: expected NAME=NUMBER such as a=2.5, got 'a='"),
        (["x=inf"], "expected NAME=NUMBER"),
        (["--out", "graph.jpg"], "--out must end in .svg, .png or .dot, got 'graph.jpg'"),
        (["--network", "a=1"], "--network takes no --expr and no NAME=NUMBER values"),
        (["--seed", "-1", "--network"], "argument --seed: must be an integer >= 0"),
        (["--expr", "x + 1/0", "x=0", "--out", "-"], "expression: 1 / 0 is not finite (division by zero)"),
        (["--expr", "x + 2**10000", "x=0", "--out", "-"], "2 ** 10000 is not finite (overflow)"),
        pytest.param(
            ["--expr", LONG_SUM, "x=0", "--out", "-"],
            "expression: too long or too deeply nested",
            id="5000-term sum",
        ),
        (
            ["--expr", "log(x)", "x=-1", "--out", "-"],
            "expression: log(x) at x=-1 is not finite (invalid value encountered in log)",
        ),
        (["--expr", "sqrt(x)", "x=0", "--out", "-"], "the gradient of sqrt(x) at x=0 is not finite"),
        (["--expr", "x**-1", "x=0", "--out", "-"], "x ** (-1) at x=0 is not finite"),
    ],
)
def test_cli_graph_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err
    assert err.startswith("python -m tinygrad_nn graph: error: ")


def test_cli_graph_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["graph", "--out", str(blocker / "g.svg")]) == 2
    assert "cannot write" in capsys.readouterr().err
