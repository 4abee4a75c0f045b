"""tinygrad_nn.graph.demos: the small graphs of the command line, and the safe expression evaluator."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tinygrad_nn import backprop, nn
from tinygrad_nn.autograd import toposort
from tinygrad_nn.graph import expression_graph, network_graph


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
