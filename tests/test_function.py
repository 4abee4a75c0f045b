"""Custom ops through Function (issue 16): the engine's contract, on both engines.

The values and gradients are checked against PyTorch's autograd.Function in
tests/test_function_torch.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import (
    Context,
    Function,
    Value,
    autograd,
    detect_anomaly,
    gradcheck,
    graph,
    nn,
    no_grad,
    reference_mode,
)
from tinygrad_nn._fast import switch


@pytest.fixture(params=["fast", "reference"])
def engine(request: Any) -> Iterator[str]:
    with switch.fast_mode() if request.param == "fast" else reference_mode():
        yield request.param


class Swish(Function):
    """x · σ(βx), the issue's example."""

    @staticmethod
    def forward(ctx: Context, x: Any, beta: float = 1.0) -> Any:
        s = 1 / (1 + np.exp(-beta * x))
        ctx.save_for_backward(x, s)
        ctx.beta = beta
        return x * s

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        x, s = ctx.saved_tensors
        return g * (s + ctx.beta * x * s * (1 - s))


class Mul(Function):
    """a · b with broadcasting: two gradients, as a tuple."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        a, b = ctx.saved_tensors
        return g * b, g * a


class Cube(Function):
    """x³ with a backward written in Value operations: differentiable to any order."""

    differentiable_backward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        assert isinstance(x, Value) and isinstance(g, Value)
        return g * 3.0 * x * x


def test_the_issues_example(engine):
    x = np.array([0.5, -1.0, 2.0])
    v = Value(x)
    y = Swish.apply(v, beta=2.0)
    assert y.op == "Swish"
    s = 1 / (1 + np.exp(-2.0 * x))
    np.testing.assert_allclose(y.data, x * s, rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(v.grad, s + 2.0 * x * s * (1 - s), rtol=1e-15)
    assert gradcheck(lambda t: Swish.apply(t, beta=2.0), [x])


def test_scalars_and_a_function_of_two_inputs(engine):
    a, b = Value(2.0), Value(-3.0)
    c = Mul.apply(a, b)
    assert type(c.data) is float and c.data == -6.0
    c.backward()
    assert (a.grad, b.grad) == (-3.0, 2.0)


def test_gradients_are_summed_over_broadcast_axes(engine):
    a, b = Value(np.ones((2, 3))), Value(np.arange(3.0))
    Mul.apply(a, b).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(a.grad, [[0.0, 1.0, 2.0]] * 2)
    assert gradcheck(lambda p, q: Mul.apply(p, q), [np.ones((2, 3)), np.arange(3.0)])


def test_constants_and_needs_input_grad(engine):
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx: Context, a: Any, b: Any) -> Any:
            seen.append(ctx.needs_input_grad)
            return a + b

        @staticmethod
        def backward(ctx: Context, g: Any) -> Any:
            return g, None  # no gradient for b

    a, frozen = Value(np.ones(2)), Value(np.ones(2), requires_grad=False)
    Probe.apply(a, frozen).sum().backward()
    Probe.apply(a, np.ones(2))
    with no_grad():
        out = Probe.apply(a, a)
    assert seen == [(True, False), (True, False), (False, False)]
    assert out.op is None and not out.requires_grad  # not recorded under no_grad
    b = Value(np.ones(2))
    Probe.apply(a, b).sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 0.0])  # None for an input that needs one: zeros


def test_a_gradient_of_the_wrong_shape_names_the_function_and_the_input(engine):
    class Bad(Function):
        @staticmethod
        def forward(ctx: Context, a: Any, b: Any) -> Any:
            return a * b

        @staticmethod
        def backward(ctx: Context, g: Any) -> Any:
            return g, np.ones(5)

    a, b = Value(np.ones(3)), Value(np.ones(3))
    y = Bad.apply(a, b).sum()
    with pytest.raises(ValueError, match=r"Bad.backward: the gradient for input 1 has shape \(5,\).*\(3,\)"):
        y.backward()
    assert a.grad is None and b.grad is None


def test_the_wrong_number_of_gradients_is_refused(engine):
    class Short(Function):
        @staticmethod
        def forward(ctx: Context, a: Any, b: Any) -> Any:
            return a * b

        @staticmethod
        def backward(ctx: Context, g: Any) -> Any:
            return g

    y = Short.apply(Value(np.ones(2)), Value(np.ones(2))).sum()
    with pytest.raises(ValueError, match=r"Short.backward: returned 1 gradient\(s\) for 2 positional input"):
        y.backward()


def test_a_first_order_backward_refuses_create_graph(engine):
    x = Value(np.array([0.3, 0.7]))
    y = Swish.apply(x).sum()
    with pytest.raises(RuntimeError, match="Swish: its backward is written with raw arrays"):
        y.backward(create_graph=True)
    assert x.grad is None


def test_a_differentiable_backward_gives_second_derivatives(engine):
    x0 = np.array([0.5, -2.0, 1.5])
    x = Value(x0)
    y = Cube.apply(x).sum()
    (g,) = autograd.grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x0**2, rtol=1e-15)
    (h,) = autograd.grad(g.sum(), [x])
    np.testing.assert_allclose(h, 6 * x0, rtol=1e-15)
    x.grad = None
    Cube.apply(x).sum().backward()  # and an ordinary backward pass: raw gradients
    np.testing.assert_allclose(x.grad, 3 * x0**2, rtol=1e-15)
    assert tg.gradgradcheck(lambda t: Cube.apply(t), [x0])


def test_in_a_network_the_trace_and_the_picture(engine):
    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Dense(3, 2, rng=0)

        def forward(self, x: Any) -> Value:
            return Swish.apply(self.dense(x), beta=1.5)

    model = Layer()
    x = np.random.default_rng(0).normal(size=(4, 3))
    loss = nn.sse_loss(model(x), np.zeros((4, 2)))
    assert "Swish" in graph.trace(loss)
    assert "Swish" in graph.to_dot(loss)
    assert tg.gradcheck_module(model, nn.sse_loss, x, np.zeros((4, 2)))


def test_anomaly_mode_names_the_function(engine):
    class Root(Function):
        @staticmethod
        def forward(ctx: Context, x: Any) -> Any:
            r = np.sqrt(x)
            ctx.save_for_backward(r)
            return r

        @staticmethod
        def backward(ctx: Context, g: Any) -> Any:
            (r,) = ctx.saved_tensors
            return g / (2 * r)

    x = Value(np.array([0.0, 4.0]))
    with detect_anomaly():
        y = Root.apply(x * 1.0)
        with pytest.raises(FloatingPointError, match="backward pass of op 'Root' produced inf"):
            y.sum().backward()


def test_a_saved_input_changed_before_backward_is_detected(engine):
    a, b = Value(np.ones(2)), Value(np.full(2, 3.0))
    y = Mul.apply(a, b).sum()
    b.data = np.full(2, 5.0)
    with pytest.raises(RuntimeError, match=r"op 'Mul' needs the data of its input 1"):
        y.backward()
    c = Value(np.ones(2))
    z = Swish.apply(c * 1.0).sum()  # Swish saves its input, the mul's output, not c
    c.data = np.zeros(2)  # and the mul's rule for c reads only the constant: no harm done
    z.backward()
    s = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(c.grad, [s + s * (1 - s)] * 2, rtol=1e-15)


def test_forward_rerun_by_a_checker_leaves_the_nodes_context_alone(engine):
    x = Value(np.array([1.0, 2.0]))
    y = Swish.apply(x, beta=1.0)
    op = y._op
    assert op is not None
    op.forward(np.array([5.0, 6.0]), beta=3.0)  # as gradcheck_nodes re-evaluates a node
    y.sum().backward()
    s = 1 / (1 + np.exp(-np.array([1.0, 2.0])))
    np.testing.assert_allclose(x.grad, s + np.array([1.0, 2.0]) * s * (1 - s), rtol=1e-15)


def test_bad_definitions_are_refused():
    class NoBackward(Function):
        @staticmethod
        def forward(ctx: Context, x: Any) -> Any:
            return x

    with pytest.raises(TypeError, match="NoBackward: a Function must define both forward and backward"):
        NoBackward.apply(Value(1.0))

    class ReturnsValue(Function):
        @staticmethod
        def forward(ctx: Context, x: Any) -> Any:
            return Value(x)

        @staticmethod
        def backward(ctx: Context, g: Any) -> Any:
            return g

    with pytest.raises(TypeError, match=r"ReturnsValue\.forward: returned a Value"):
        ReturnsValue.apply(Value(1.0))
    with pytest.raises(TypeError, match="needs at least one positional input"):
        Swish.apply()


def test_public_names():
    assert tg.Function is Function and tg.Context is Context
    assert {"Function", "Context"} <= set(tg.__all__)
