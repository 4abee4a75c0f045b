"""The heart of the suite: autograd reproduces (and generalizes) the backprop derived by hand.

For generated networks (1-4 Dense layers, widths 1-8, sigmoid / tanh /
identity activations mixed, with and without biases) and generated batches
(1-16 examples) with targets:

1. autograd's parameter gradients equal the closed-form δ gradients of
   :mod:`tinygrad_nn.backprop` (relative 1e-10, float64);
2. they equal finite differences (``gradcheck_module`` passes);
3. the ``.grad`` autograd leaves on each Dense layer's pre-activation z is that
   layer's δ.

Then every engine op goes through ``gradcheck`` on the same array strategies.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import (
    Value,
    backprop,
    concatenate,
    gradcheck,
    gradcheck_module,
    gradgradcheck,
    nn,
    stack,
    where,
)
from tinygrad_nn.ops import OPS
from tinygrad_nn.testing import (
    arrays,
    assert_grads_close,
    broadcastable_shapes,
    dense_networks,
    network_inputs,
    shapes,
)
from tinygrad_nn.value import apply

networks = dense_networks(depth=(1, 4), width=(1, 8), activations=("sigmoid", "tanh", "identity", "none"))
reductions = st.sampled_from(["sum", "mean"])


def forward_keeping_z(model: nn.Sequential, x: np.ndarray) -> tuple[Value, list[Value]]:
    """Run the model module by module, keeping each Dense layer's output z (its pre-activation)."""
    h: Any = x
    zs = []
    for m in model:
        h = m(h)
        if isinstance(m, nn.Dense):
            zs.append(h)
    return h, zs


@given(networks, reductions, st.data())
def test_autograd_equals_closed_form_deltas(model, reduction, data):
    x, t = data.draw(network_inputs(model, batch=(1, 16)))
    nn.sse_loss(model(x), t, reduction=reduction).backward()
    autograd = {name: p.grad for name, p in model.named_parameters()}
    assert_grads_close(autograd, backprop.gradients(model, x, t, reduction), rtol=1e-10, atol=1e-12)


@given(networks, reductions, st.data())
def test_grad_on_each_pre_activation_is_delta(model, reduction, data):
    x, t = data.draw(network_inputs(model, batch=(1, 16)))
    out, zs = forward_keeping_z(model, x)
    nn.sse_loss(out, t, reduction=reduction).backward()
    deltas = backprop.deltas(model, x, t, reduction)
    assert len(deltas) == len(zs) == len([m for m in model if isinstance(m, nn.Dense)])
    assert_grads_close([z.grad for z in zs], deltas, rtol=1e-10, atol=1e-12)


@given(networks, reductions, st.data())
def test_autograd_equals_finite_differences(model, reduction, data):
    x, t = data.draw(network_inputs(model, batch=(1, 16)))
    report = gradcheck_module(model, lambda o, t: nn.sse_loss(o, t, reduction=reduction), x, t)
    assert report and len(report) == len(list(model.parameters()))


# -- every engine op through gradcheck ------------------------------------------------------------

Case = tuple[Callable[..., Value], list[np.ndarray]]


def _pair(draw: st.DrawFn, **b_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    sa, sb = draw(broadcastable_shapes(2, max_dims=3, max_side=3))
    return draw(arrays(sa)), draw(arrays(sb, **b_kwargs))


def _unary(fn: Callable[[Value], Value], **kwargs: Any) -> Callable[[st.DrawFn], Case]:
    return lambda draw: (fn, [draw(arrays(shapes(max_dims=3), **kwargs))])


def _distinct(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Elements at least 0.1 apart: max has no ties within reach of a finite difference."""
    n = int(np.prod(shape, dtype=np.int64))
    ints = draw(st.lists(st.integers(-100, 100), min_size=n, max_size=n, unique=True))
    return np.array(ints, dtype=np.float64).reshape(shape) / 10


def _matmul(draw: st.DrawFn) -> Case:
    sa, sb = draw(st.sampled_from([((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
                                   ((2, 2, 3), (3, 2)), ((2, 1, 2, 3), (4, 3, 2))]))  # fmt: skip
    return (lambda a, b: a @ b), [draw(arrays(sa)), draw(arrays(sb))]


def _axis_case(method: str) -> Callable[[st.DrawFn], Case]:
    def build(draw: st.DrawFn) -> Case:
        shape = draw(shapes(min_dims=1, max_dims=3))
        axis = draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
        keep = draw(st.booleans())
        x = _distinct(draw, shape) if method == "max" else draw(arrays(shape))
        return (lambda v: getattr(v, method)(axis=axis, keepdims=keep)), [x]

    return build


def _softmax(method: str) -> Callable[[st.DrawFn], Case]:
    def build(draw: st.DrawFn) -> Case:
        shape = draw(shapes(min_dims=1, max_dims=3))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        return (lambda v: getattr(v, method)(axis=axis)), [draw(arrays(shape))]

    return build


def _reshape(draw: st.DrawFn) -> Case:
    shape = draw(shapes(min_dims=1, max_dims=3))
    return (lambda v: v.reshape(-1, 1) * 2), [draw(arrays(shape))]


def _transpose(draw: st.DrawFn) -> Case:
    shape = draw(shapes(min_dims=1, max_dims=3))
    axes = draw(st.permutations(range(len(shape))))
    return (lambda v: v.transpose(tuple(axes))), [draw(arrays(shape))]


def _broadcast(op: str) -> Callable[[st.DrawFn], Case]:
    def build(draw: st.DrawFn) -> Case:
        small, big = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=3))
        small = small[0]
        if op == "broadcast_to":
            return (lambda v: v.broadcast_to(big) * 1.5), [draw(arrays(small))]
        return (lambda v: v.sum_to(small) * 1.5), [draw(arrays(big))]

    return build


def _getitem(draw: st.DrawFn) -> Case:
    shape = draw(shapes(min_dims=1, max_dims=2))
    index: Any = draw(st.sampled_from([0, slice(None, None, -1), np.array([0, 0, -1])]))
    return (lambda v: v[index] * 3.0), [draw(arrays(shape))]


def _scatter(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 4))
    index = np.array([0, n - 1, 0])  # repeats accumulate
    return (lambda g: apply(OPS["scatter"], g, index=index, shape=(n,)) * 2.0), [draw(arrays((3,)))]


def _astype(draw: st.DrawFn) -> Case:
    # Through float32 and back: linear, so exact up to float32 rounding of the input.
    return (lambda v: v.astype(np.float32).astype(np.float64)), [draw(arrays(shapes(max_dims=2)))]


def _where(draw: st.DrawFn) -> Case:
    a, b = _pair(draw)
    cond = draw(hnp.arrays(np.bool_, np.broadcast_shapes(a.shape, b.shape)))
    return (lambda x, y: where(cond, x, y)), [a, b]


def _join(op: str) -> Callable[[st.DrawFn], Case]:
    def build(draw: st.DrawFn) -> Case:
        shape = draw(shapes(min_dims=1, max_dims=2))
        a, b = draw(arrays(shape)), draw(arrays(shape))
        if op == "stack":
            return (lambda x, y: stack([x, y], axis=-1)), [a, b]
        return (lambda x, y: concatenate([x, y * 2], axis=0)), [a, b]

    return build


def _dense(name: str) -> Callable[[st.DrawFn], Case]:
    """x @ w + b, alone ("linear") or fused with its activation ("linear_relu", ...)."""

    def build(draw: st.DrawFn) -> Case:
        x_shape = draw(st.sampled_from([(3,), (2, 3), (2, 2, 3)]))
        m = draw(st.integers(1, 3))
        inputs = [draw(arrays(x_shape)), draw(arrays((3, m))), draw(arrays((m,)))]
        if name == "linear_relu":  # keep z off relu's kink
            assume(np.all(np.abs(np.asarray(OPS["linear"].forward(*inputs))) > 0.05))
        return (lambda x, w, b: apply(OPS[name], x, w, b)), inputs

    return build


def _squared_error(draw: st.DrawFn) -> Case:
    shape = draw(shapes(max_dims=2))
    scale = draw(st.sampled_from([0.5, 0.25, 1.0]))
    inputs = [draw(arrays(shape)), draw(arrays(shape))]
    return (lambda p, t: apply(OPS["squared_error"], p, t, scale=scale)), inputs


def _binary_cross_entropy(draw: st.DrawFn) -> Case:
    shape = draw(shapes(max_dims=2))
    inputs = [
        draw(arrays(shape, min_value=0.05, max_value=0.95)),
        draw(arrays(shape, min_value=0, max_value=1)),
    ]
    return (lambda p, t: apply(OPS["binary_cross_entropy"], p, t)), inputs


OP_CASES: dict[str, Callable[[st.DrawFn], Case]] = {
    "add": lambda draw: ((lambda a, b: a + b), list(_pair(draw))),
    "sub": lambda draw: ((lambda a, b: a - b), list(_pair(draw))),
    "mul": lambda draw: ((lambda a, b: a * b), list(_pair(draw))),
    "div": lambda draw: ((lambda a, b: a / b), list(_pair(draw, away_from_zero=0.5))),
    "pow": lambda draw: (
        (lambda a, b: a**b),
        [draw(arrays((2, 2), min_value=0.5, max_value=2.0)), draw(arrays((2,), min_value=-2, max_value=2))],
    ),
    "matmul": _matmul,
    "neg": _unary(lambda v: -v),
    "exp": _unary(lambda v: v.exp()),
    "log": _unary(lambda v: v.log(), min_value=0.3),
    "sqrt": _unary(lambda v: v.sqrt(), min_value=0.3),
    "abs": _unary(lambda v: abs(v), away_from_zero=0.1),
    "tanh": _unary(lambda v: v.tanh()),
    "sigmoid": _unary(lambda v: v.sigmoid()),
    "softplus": _unary(lambda v: apply(OPS["softplus"], v)),
    "relu": _unary(lambda v: v.relu(), away_from_zero=0.1),
    "leaky_relu": _unary(lambda v: v.leaky_relu(0.2), away_from_zero=0.1),
    "sum": _axis_case("sum"),
    "mean": _axis_case("mean"),
    "max": _axis_case("max"),
    "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"),
    "reshape": _reshape,
    "transpose": _transpose,
    "broadcast_to": _broadcast("broadcast_to"),
    "sum_to": _broadcast("sum_to"),
    "getitem": _getitem,
    "scatter": _scatter,
    "astype": _astype,
    "where": _where,
    "concatenate": _join("concatenate"),
    "stack": _join("stack"),
    "linear": _dense("linear"),
    "linear_sigmoid": _dense("linear_sigmoid"),
    "linear_tanh": _dense("linear_tanh"),
    "linear_relu": _dense("linear_relu"),
    "squared_error": _squared_error,
    "binary_cross_entropy": _binary_cross_entropy,
}


def test_every_engine_op_has_a_gradcheck_case():
    missing = set(OPS) - set(OP_CASES)
    assert not missing, f"engine ops without a gradcheck case in OP_CASES: {sorted(missing)}"


# A quarter of the profile's examples per op: 31 ops x the full count would
# dominate the suite, and tests/test_ops.py already checks every op against
# its own finite differences; here the point is gradcheck on every op.
@pytest.mark.parametrize("name", sorted(OP_CASES))
@settings(max_examples=max(5, settings().max_examples // 4))
@given(data=st.data())
def test_engine_op_passes_gradcheck(name, data):
    fn, inputs = data.draw(st.composite(lambda draw: OP_CASES[name](draw))())
    if name == "astype":  # float32 rounding of x ± ε: use a large ε (the op is linear)
        assert gradcheck(fn, inputs, eps=1e-2, atol=1e-4)
    else:
        assert gradcheck(fn, inputs)


# Second derivatives of every op, checked by gradgradcheck on the same cases.
# The output is squared so that even a linear op's gradient depends on its
# inputs, and double backprop runs through the op's own VJP rule.
@pytest.mark.parametrize("name", sorted(set(OP_CASES) - {"astype"}))
@settings(max_examples=max(3, settings().max_examples // 8))
@given(data=st.data())
def test_engine_op_passes_gradgradcheck(name, data):
    fn, inputs = data.draw(st.composite(lambda draw: OP_CASES[name](draw))())
    assert gradgradcheck(lambda *xs: fn(*xs) ** 2, inputs, atol=1e-4, rtol=1e-3)
