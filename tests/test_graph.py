"""tinygrad_nn.graph: DOT pictures, rendering with or without Graphviz, the backward trace, small graphs."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tinygrad_nn import Value, backprop, graph, nn
from tinygrad_nn.autograd import toposort
from tinygrad_nn.cli import main
from tinygrad_nn.graph import (
    backward_steps,
    expression_graph,
    network_graph,
    render,
    summarize,
    to_dot,
    trace,
)

HAS_DOT = shutil.which("dot") is not None


def _scalar_graph():
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    e = a * b
    d = e + c
    f = d.tanh() * a  # a is used twice: its gradient has two contributions
    return f, {"a": a, "b": b, "c": c, "e": e, "d": d, "f": f}


# -- summarize ------------------------------------------------------------------------------------------


def test_summarize_numbers_small_and_large_arrays():
    assert summarize(2.0) == "2"
    assert summarize(-0.123456) == "-0.1235"
    assert summarize(None) == "—"
    assert summarize(np.array([1.0, 2.5])) == "[1, 2.5]"
    assert summarize(np.arange(6.0).reshape(2, 3)) == "(2, 3) [0, 1, 2, 3, …]"
    assert summarize(np.ones(2, dtype=np.float32)) == "[1, 1] float32"
    assert summarize(Value(3.0)) == "3"


# -- DOT ------------------------------------------------------------------------------------------------


def test_to_dot_shows_every_node_with_op_value_and_gradient():
    f, names = _scalar_graph()
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


def test_graph_functions_refuse_a_constant_or_a_non_value():
    with pytest.raises(ValueError, match="to_dot: this Value has no graph"):
        to_dot(Value(1.0, requires_grad=False))
    with pytest.raises(TypeError, match="to_dot: expected a Value, got float"):
        to_dot(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="names must map strings to Values"):
        to_dot(Value(1.0) * 2.0, {"x": 1.0})  # type: ignore[dict-item]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_graphviz_accepts_the_dot_text():
    E, names = network_graph()
    done = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(E, names), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout and "z1" in done.stdout


# -- render ---------------------------------------------------------------------------------------------


def test_render_without_graphviz_writes_dot_only(tmp_path, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    f, names = _scalar_graph()
    written = render(f, tmp_path / "g.svg", names)
    assert written.dot == tmp_path / "g.dot" and written.image is None
    assert written.dot.read_text(encoding="utf-8").startswith("digraph G {")
    assert not (tmp_path / "g.svg").exists()


def test_render_dot_format_and_bad_format(tmp_path):
    f, _ = _scalar_graph()
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


# -- trace ----------------------------------------------------------------------------------------------


def test_trace_reaches_the_gradients_backward_stores_and_changes_no_grad():
    f, names = _scalar_graph()
    steps = backward_steps(f, names)
    assert all(v.grad is None for v in names.values())
    f.backward()
    grad_of = {s.name: s.grad for s in steps}
    for name, v in names.items():
        assert grad_of[name] == pytest.approx(v.grad, rel=1e-12), name


def test_trace_of_a_fused_layer_names_its_delta_and_matches_backward():
    model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.Sigmoid(), nn.Dense(3, 1, rng=1), nn.Tanh())
    err = (model(np.array([[0.5, -1.0], [1.0, 2.0]])) ** 2).sum()
    names = {"W1": model[0].weight, "b1": model[0].bias, "W2": model[2].weight}
    text = graph.trace(err, names)
    assert "linear_sigmoid(const" in text and "xᵀ @ δ, δ = g ⊙ O(1 − O)" in text
    grad_of = {s.name: s.grad for s in graph.backward_steps(err, names)}
    err.backward()
    for name, v in names.items():
        np.testing.assert_allclose(grad_of[name], v.grad, rtol=1e-12, err_msg=name)


def test_trace_visits_each_node_after_all_of_its_consumers():
    f, names = _scalar_graph()
    steps = backward_steps(f, names)
    assert steps[0].name == "f" and steps[0].grad == 1.0
    position = {s.name: s.index for s in steps}
    for s in steps:
        for e in s.edges:
            assert position[e.input] > s.index
    # a receives two contributions; the one visited last leaves the total
    a_edges = [e for s in steps for e in s.edges if e.input == "a"]
    assert len(a_edges) == 2
    assert a_edges[-1].accumulated == pytest.approx(a_edges[0].contribution + a_edges[1].contribution)


def test_scalar_local_derivatives_are_the_partial_derivatives():
    f, names = _scalar_graph()
    steps = {s.name: s for s in backward_steps(f, names)}
    e_edges = {edge.input: edge for edge in steps["e"].edges}
    assert e_edges["a"].local == -3.0 and e_edges["b"].local == 2.0  # ∂(ab)/∂a = b, ∂(ab)/∂b = a
    (tanh_step,) = [s for s in steps.values() if s.op == "tanh"]
    assert tanh_step.edges[0].local == pytest.approx(1 - np.tanh(4.0) ** 2)
    for s in steps.values():
        for edge in s.edges:
            assert edge.contribution == pytest.approx(s.grad * edge.local)


def test_array_trace_has_diagonal_locals_for_elementwise_ops_and_words_otherwise():
    W = Value(np.array([[0.5, -1.0], [2.0, 0.1]]))
    z = np.array([[1.0, 2.0], [3.0, 4.0]]) @ W
    o = z.sigmoid()
    loss = (o * o).sum()
    steps = backward_steps(loss, {"W": W, "z": z, "o": o, "loss": loss})
    by_name = {s.name: s for s in steps}
    (sig,) = by_name["o"].edges
    assert np.allclose(sig.local, o.data * (1 - o.data)) and sig.local_text.startswith("elementwise")
    (mm,) = by_name["z"].edges
    assert mm.local is None and mm.local_text == "Aᵀ @ g"
    loss.backward()
    assert np.allclose(by_name["W"].grad, W.grad)


def test_trace_text_lists_steps_edges_and_totals():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    text = trace(c, {"a": a, "b": b, "c": c})
    assert text.splitlines() == [
        "backward pass of c, in reverse topological order (seed ∂c/∂c = 1)",
        "[1] c = mul(a, b) = -6    grad ∂c/∂c = 1",
        "      -> a: local ∂c/∂a = -3; adds -3; a.grad now -3",
        "      -> b: local ∂c/∂b = 2; adds 2; b.grad now 2",
        "[2] b = leaf = -3    grad ∂c/∂b = 2",
        "[3] a = leaf = 2    grad ∂c/∂a = -3",
    ]


def test_trace_of_a_division_by_zero_follows_ieee_like_the_engine():
    x = Value(0.0)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y = 1.0 / x  # inf; ∂y/∂x = -y/x = -inf, which Python floats would refuse to compute
    steps = backward_steps(y)
    y.backward()
    assert steps[0].edges[0].local == -np.inf == x.grad


def test_trace_needs_a_single_element_root():
    with pytest.raises(ValueError, match=r"trace: the root must have a single element .* shape \(2,\)"):
        trace(Value(np.ones(2)) * 2.0)


# -- the small graphs of the command line --------------------------------------------------------------


def test_expression_graph_functions_methods_and_names():
    f, names = expression_graph("tanh(a*b) + (a - 1).exp() / c ** 2", {"a": 2, "b": -0.5, "c": 4})
    expected = np.tanh(-1.0) + np.exp(1.0) / 16
    assert f.item() == pytest.approx(expected)
    assert set(names) == {"a", "b", "c", "f"} and names["f"] is f
    f.backward()
    assert names["c"].grad == pytest.approx(-2 * np.exp(1.0) / 64)


def test_expression_graph_names_the_result_out_when_f_is_a_variable():
    _, names = expression_graph("f * 2", {"f": 1.0})
    assert set(names) == {"f", "out"}


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os')", "unsupported call"),
        ("a.__class__", "unsupported syntax"),
        ("open('x').read()", "unsupported call"),
        ("[a, a]", "unsupported syntax"),
        ("a if a else a", "unsupported syntax"),
        ("a +", "cannot parse"),
        ("b * 2", "unknown variable 'b'"),
        ("True * a", "unsupported constant"),
        ("2 + 3", "does not depend on any variable"),
        ("tanh(a, a)", "unsupported call"),
    ],
)
def test_expression_graph_refuses_anything_else(expr, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        expression_graph(expr, {"a": 1.0})


def test_expression_graph_checks_variables():
    with pytest.raises(ValueError, match="not an identifier"):
        expression_graph("a", {"1a": 1.0})
    with pytest.raises(ValueError, match="finite number"):
        expression_graph("a", {"a": float("nan")})


LONG_SUM = "+".join(["x"] * 5000)


@pytest.mark.parametrize(
    ("expr", "variables", "message"),
    [
        ("x + 1/0", {"x": 0.0}, "expression: 1 / 0 is not finite (division by zero)"),
        ("x + 2**10000", {"x": 0.0}, "expression: 2 ** 10000 is not finite (overflow)"),
        ("x * 10**400", {"x": 0.0}, "expression: 10 ** 400 is not finite (overflow)"),
        ("x * 1e308 * 10", {"x": 1.0}, "expression: x * 1e+308 * 10 at x=1 is not finite (overflow)"),
        ("exp(x)", {"x": 1000.0}, "expression: exp(x) at x=1000 is not finite"),
        ("x * (-8)**(1/3)", {"x": 1.0}, "expression: (-8) ** (1 / 3) is not a real number"),
        pytest.param(
            LONG_SUM,
            {"x": 0.0},
            "expression: too long or too deeply nested (9999 characters)",
            id="5000-term sum",
        ),
        ("log(x)", {"x": -1.0}, "log(x) at x=-1 is not finite (invalid value encountered in log)"),
        ("x / y", {"x": 1.0, "y": 0.0}, "expression: x / y at x=1, y=0 is not finite (divide by zero"),
        ("x**-1", {"x": 0.0}, "expression: x ** (-1) at x=0 is not finite (divide by zero"),
    ],
)
def test_expression_graph_refuses_values_that_are_not_finite(expr, variables, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        expression_graph(expr, variables)


def test_expression_graph_backward_refuses_gradients_that_are_not_finite():
    root, names = expression_graph("sqrt(x)", {"x": 0.0})  # the value is fine: sqrt(0) = 0
    assert root.data == 0.0 and names["x"].grad is None
    message = "expression: the gradient of sqrt(x) at x=0 is not finite (divide by zero"
    with pytest.raises(ValueError, match=re.escape(message)):
        expression_graph("sqrt(x)", {"x": 0.0}, backward=True)
    root, names = expression_graph("x * sqrt(x) + 1", {"x": 4.0}, backward=True)
    assert root.data == 9.0 and names["x"].grad == pytest.approx(3.0)  # d/dx x^1.5 = 1.5 sqrt(x)


def test_network_graph_holds_the_deltas_on_its_pre_activations():
    E, names = network_graph(seed=3)
    assert {"W1", "b1", "W2", "b2", "z1", "O1", "z2", "O2", "E"} <= set(names)
    order = toposort(E)
    assert order[-1] is E and all(v in order for v in names.values())
    model = nn.Sequential(nn.Dense(2, 2), nn.Sigmoid(), nn.Dense(2, 1), nn.Sigmoid())
    model[0].weight.data, model[0].bias.data = names["W1"].data, names["b1"].data
    model[2].weight.data, model[2].bias.data = names["W2"].data, names["b2"].data
    delta_j, delta_k = backprop.deltas(model, np.array([[0.5, -1.0]]), np.array([[1.0]]))
    assert np.allclose(names["z1"].grad, delta_j) and np.allclose(names["z2"].grad, delta_k)


# -- the command line: tinygrad-nn graph ---------------------------------------------------------------


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
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    assert main(["graph", "--out", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "Graphviz's dot is not on the PATH" in out
    assert (tmp_path / "g.dot").exists() and not (tmp_path / "g.png").exists()


def test_cli_graph_expression_to_stdout(capsys):
    assert main(["graph", "--expr", "(a*b + 10) * -2", "a=2", "b=-3", "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph G {")
    assert 'label="a\\ndata 2\\ngrad 6"' in out and 'label="b\\ndata -3\\ngrad -4"' in out


def test_cli_graph_network(tmp_path, capsys):
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
