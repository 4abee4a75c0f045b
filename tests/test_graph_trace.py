"""tinygrad_nn.graph.tracing: the step-by-step backward pass agrees with backward() and changes no .grad."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_nn import Value, graph, nn
from tinygrad_nn.graph import backward_steps, trace

# -- trace ----------------------------------------------------------------------------------------------


def test_trace_reaches_the_gradients_backward_stores_and_changes_no_grad(scalar_graph):
    f, names = scalar_graph
    steps = backward_steps(f, names)
    assert all(v.grad is None for v in names.values())
    f.backward()
    grad_of = {s.name: s.grad for s in steps}
    for name, v in names.items():
        assert grad_of[name] == pytest.approx(v.grad, rel=1e-12), name


def test_trace_of_a_fused_layer_names_its_delta_and_matches_backward(fast_path):
    model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.Sigmoid(), nn.Dense(3, 1, rng=1), nn.Tanh())
    err = (model(np.array([[0.5, -1.0], [1.0, 2.0]])) ** 2).sum()
    names = {"W1": model[0].weight, "b1": model[0].bias, "W2": model[2].weight}
    text = graph.trace(err, names)
    assert "linear_sigmoid(const" in text and "xᵀ @ δ, δ = g ⊙ O(1 − O)" in text
    grad_of = {s.name: s.grad for s in graph.backward_steps(err, names)}
    err.backward()
    for name, v in names.items():
        np.testing.assert_allclose(grad_of[name], v.grad, rtol=1e-12, err_msg=name)


def test_trace_visits_each_node_after_all_of_its_consumers(scalar_graph):
    f, names = scalar_graph
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


def test_scalar_local_derivatives_are_the_partial_derivatives(scalar_graph):
    f, names = scalar_graph
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


def test_trace_runs_the_backward_walk_and_agrees_with_it_on_the_reference_path(reference_path):
    """The trace's steps are autograd.walk's: the same nodes in the same order, with
    the gradients backward() stores (here on the reference path: unfused layers)."""
    from tinygrad_nn import autograd, nn

    x = np.array([[0.5, -1.0]])
    model = nn.Sequential(nn.Dense(2, 2, rng=0), nn.Sigmoid(), nn.Dense(2, 1, rng=1))
    E = nn.sse_loss(model(x), np.array([[1.0]]))
    steps = backward_steps(E)
    walked = list(autograd.walk(E, 1.0))
    assert [s.op for s in steps] == [w.node.op for w in walked]
    assert "matmul" in [s.op for s in steps] and "linear_sigmoid" not in [s.op for s in steps]
    E.backward()
    for s, w in zip(steps, walked, strict=True):
        np.testing.assert_array_equal(s.grad, w.node.grad)
