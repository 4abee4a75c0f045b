"""Every op against central finite differences, over generated shapes and values.

The oracle here is deliberately independent of the library's own gradcheck:
a plain loop over elements in float64. Each case also checks second
derivatives (backward with create_graph=True, then backward again) against
finite differences of the first-order gradient.
"""

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import Value, autograd, concatenate, ops, stack, where
from tinygrad_nn._fast import fused
from tinygrad_nn.ops import OPS
from tinygrad_nn.testing import arrays, broadcastable_shapes, shapes
from tinygrad_nn.value import apply

EPS = 1e-6


def _projected(fn: Callable, arrays_: list, weights: np.ndarray) -> float:
    out = fn(*[Value(a, requires_grad=False) for a in arrays_])
    return float(np.sum(np.asarray(out.data) * weights))


def numerical_grads(fn: Callable, arrays_: list, weights: np.ndarray) -> list:
    grads = []
    for i, a in enumerate(arrays_):
        g = np.zeros(np.shape(a))
        for idx in np.ndindex(np.shape(a)):
            plus = [np.array(x, dtype=float, copy=True) for x in arrays_]
            minus = [np.array(x, dtype=float, copy=True) for x in arrays_]
            plus[i][idx] += EPS
            minus[i][idx] -= EPS
            g[idx] = (_projected(fn, plus, weights) - _projected(fn, minus, weights)) / (2 * EPS)
        grads.append(g)
    return grads


def autograd_grads(fn: Callable, arrays_: list, weights: np.ndarray) -> list:
    vals = [Value(a) for a in arrays_]
    (fn(*vals) * weights).sum().backward()
    return [np.asarray(v.grad) for v in vals]


def check(fn: Callable, *arrays_: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    arrays_ = [np.asarray(a, dtype=np.float64) for a in arrays_]
    out = fn(*[Value(a, requires_grad=False) for a in arrays_])
    weights = np.random.default_rng(0).standard_normal(out.shape)
    auto = autograd_grads(fn, arrays_, weights)
    num = numerical_grads(fn, arrays_, weights)
    for i, (a, n) in enumerate(zip(auto, num, strict=True)):
        assert a.shape == np.shape(arrays_[i])
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol, err_msg=f"input {i}")
    check_second_order(fn, arrays_, weights, rtol=max(rtol, 1e-4), atol=max(atol, 1e-5))


def check_second_order(fn: Callable, arrays_: list, weights: np.ndarray, rtol: float, atol: float) -> None:
    """d/dx of <S, ∂L/∂x> by double backprop vs finite differences of the gradient.

    L = <W, f> + ½ |f|² is nonlinear in f, so even for a linear op the gradient
    depends on x and the second pass runs through the op's VJP rule itself.
    """
    rng = np.random.default_rng(1)
    S = [rng.standard_normal(np.shape(a)) for a in arrays_]

    def loss(out: Value) -> Value:
        return (out * weights).sum() + 0.5 * (out * out).sum()

    def first_order(*consts: Value) -> Value:
        xs = [Value(c.data) for c in consts]
        loss(fn(*xs)).backward(create_graph=True)
        return sum(((x.grad * s).sum() for x, s in zip(xs, S, strict=True)), Value(0.0))

    vals = [Value(a) for a in arrays_]
    loss(fn(*vals)).backward(create_graph=True)
    total = sum(((v.grad * s).sum() for v, s in zip(vals, S, strict=True)), Value(0.0))
    for v in vals:
        v.grad = None
    assert total.requires_grad
    total.backward()
    num = numerical_grads(first_order, arrays_, np.array(1.0))
    for i, (v, n) in enumerate(zip(vals, num, strict=True)):
        got = np.zeros(np.shape(arrays_[i])) if v.grad is None else np.asarray(v.grad)
        np.testing.assert_allclose(got, n, rtol=rtol, atol=atol, err_msg=f"second order, input {i}")


pairs = broadcastable_shapes(2, max_dims=3, max_side=3)


# -- elementwise binary ---------------------------------------------------------


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_add_sub_mul(ab):
    a, b = ab
    check(lambda x, y: x + y, a, b)
    check(lambda x, y: x - y, a, b)
    check(lambda x, y: x * y, a, b)


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1], away_from_zero=0.5))))
def test_div(ab):
    check(lambda x, y: x / y, *ab)


@given(
    pairs.flatmap(
        lambda s: st.tuples(
            arrays(s[0], min_value=0.5, max_value=2.0), arrays(s[1], min_value=-2, max_value=2)
        )
    )
)
def test_pow_with_value_exponent(ab):
    check(lambda x, y: x**y, *ab)


@given(arrays(shapes(), min_value=0.5, max_value=2.0), st.sampled_from([2, 3, 0.5, -1.5]))
def test_pow_constant_exponent(a, p):
    check(lambda x: x**p, a)


def test_pow_derivative_wrt_exponent_at_zero_base():
    b = Value(np.array([2.0, 3.0]))
    (np.array([0.0, 2.0]) ** b).sum().backward()
    np.testing.assert_allclose(b.grad, [0.0, 8 * np.log(2.0)])


matmul_shapes = st.sampled_from(
    [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)),
     ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]
)  # fmt: skip


@given(matmul_shapes.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_matmul(ab):
    check(lambda x, y: x @ y, *ab)


linear_shapes = st.sampled_from(
    [((5, 3), (3, 2), (2,)), ((3,), (3, 4), (4,)), ((2, 5, 3), (3, 2), (2,)), ((4, 3), (3, 2), (1,))]
)


@given(linear_shapes.flatmap(lambda s: st.tuples(*(arrays(n) for n in s))))
def test_linear(xwb):
    check(lambda x, w, b: apply(fused.LINEAR, x, w, b), *xwb)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_joint_rule_equals_its_per_input_rules(dtype):
    """The shortcut a Dense node takes in backward: the same arrays, bit for bit,
    as the three rules followed by the engine's reshaping (the bias's batch sum)."""
    rng = np.random.default_rng(5)
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in ((6, 4), (4, 3), (3,), (6, 3)))
    out = fused.LINEAR.forward(x, w, b)
    joint = fused.LINEAR.joint(g, (1, 1, 1), x, w, b)
    for i, (got, like) in enumerate(zip(joint, (x, w, b), strict=True)):
        want = autograd.fit(fused.LINEAR.vjps[i](g, out, x, w, b), like)
        assert got.shape == like.shape and got.dtype == dtype
        np.testing.assert_array_equal(got, want)
    skipped = fused.LINEAR.joint(g, (None, 1, None), x, w, b)
    assert skipped[0] is None and skipped[2] is None and skipped[1].shape == w.shape


@pytest.mark.parametrize(
    "x, w, b",
    [
        (np.ones(4), np.ones((4, 3)), np.ones(3)),  # a single example
        (np.ones((2, 6, 4)), np.ones((4, 3)), np.ones(3)),  # extra batch axes
        (np.ones((6, 4)), np.ones((4, 3)), np.ones(1)),  # a bias that broadcasts
        (np.ones((6, 4)), np.ones((4, 3), np.float32), np.ones(3, np.float32)),  # mixed dtypes
        (np.ones((6, 4)), np.ones((4, 3)), 0.5),  # a number for the bias
    ],
)
def test_linear_joint_rule_leaves_other_cases_to_the_per_input_rules(x, w, b):
    g = np.ones(np.shape(fused.LINEAR.forward(x, w, b)))
    assert fused.LINEAR.joint(g, (1, 1, 1), x, w, b) is None
    # ... and the engine then gives each input the gradient of Σ(x @ w + b), of its own shape and dtype
    vx, vw = Value(x), Value(w)
    vb = Value(b) if isinstance(b, np.ndarray) else b
    apply(fused.LINEAR, vx, vw, vb).sum().backward()
    rows = x.reshape(-1, x.shape[-1])
    want = {
        "x": np.broadcast_to(w.sum(axis=1), x.shape),
        "w": np.broadcast_to(rows.sum(axis=0)[:, None], w.shape),
        "b": np.full(np.shape(b), g.size / max(np.size(b), 1)),
    }
    for name, v in zip("xwb", (vx, vw, vb), strict=True):
        if isinstance(v, Value):
            assert np.shape(v.grad) == v.shape and v.grad.dtype == v.dtype
            np.testing.assert_allclose(v.grad, want[name], rtol=1e-6)


FUSED = {"linear_sigmoid": "sigmoid", "linear_tanh": "tanh", "linear_relu": "relu"}


@pytest.mark.parametrize("name", sorted(FUSED))
@given(xwb=linear_shapes.flatmap(lambda s: st.tuples(*(arrays(n, max_value=2.0) for n in s))))
def test_fused_linear_activation(name, xwb):
    x, w, b = xwb
    z = np.asarray(fused.LINEAR.forward(x, w, b))
    assume(name != "linear_relu" or np.all(np.abs(z) > 1e-3))  # relu′ jumps at 0
    check(lambda x, w, b: apply(OPS[name], x, w, b), *xwb)


@pytest.mark.parametrize("name", sorted(FUSED))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_op_equals_the_two_ops_it_fuses(name, dtype):
    """Same forward, same gradients, bit for bit, through the engine's shared δ stage."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)).astype(dtype)
    t = rng.standard_normal((6, 3)).astype(dtype)

    def grads(as_one_node: bool) -> list:
        h = Value(x)
        w, b = Value(rng.standard_normal((4, 3)).astype(dtype)), Value(rng.standard_normal(3).astype(dtype))
        o = apply(OPS[name], h, w, b) if as_one_node else getattr(apply(fused.LINEAR, h, w, b), FUSED[name])()
        ((o - t) * (o - t)).sum().backward()
        return [o.data, h.grad, w.grad, b.grad]

    state = rng.bit_generator.state
    one_node = grads(True)
    rng.bit_generator.state = state
    for got, want in zip(one_node, grads(False), strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_fused_op_keeps_no_intermediate():
    o = apply(fused.LINEAR_SIGMOID, np.ones((2, 3)), Value(np.ones((3, 4))), Value(np.zeros(4)))
    assert o.op == "linear_sigmoid" and len(o.inputs) == 2
    np.testing.assert_allclose(o.data, 1 / (1 + np.exp(-3.0)))


@given(
    shapes().flatmap(
        lambda s: st.tuples(
            arrays(s, min_value=0.05, max_value=0.95), arrays(s, min_value=0.0, max_value=1.0)
        )
    )
)
def test_binary_cross_entropy(pt):
    check(lambda p, t: apply(ops.BINARY_CROSS_ENTROPY, p, t), *pt)


@given(shapes().flatmap(lambda s: st.tuples(arrays(s), arrays(s))), st.sampled_from([0.5, 1.0, 0.1]))
def test_squared_error(pt, scale):
    check(lambda p, t: apply(ops.SQUARED_ERROR, p, t, scale=scale), *pt)


# -- elementwise unary --------------------------------------------------------------

UNARY = {
    "neg": (lambda x: -x, {}),
    "exp": (lambda x: x.exp(), {}),
    "log": (lambda x: x.log(), {"min_value": 0.1, "max_value": 5.0}),
    "sqrt": (lambda x: x.sqrt(), {"min_value": 0.1, "max_value": 5.0}),
    "abs": (lambda x: x.abs(), {"away_from_zero": 0.01}),
    "tanh": (lambda x: x.tanh(), {}),
    "sigmoid": (lambda x: x.sigmoid(), {"min_value": -8.0, "max_value": 8.0}),
    "relu": (lambda x: x.relu(), {"away_from_zero": 0.01}),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), {"away_from_zero": 0.01}),
    "softplus": (lambda x: apply(ops.SOFTPLUS, x), {"min_value": -30.0, "max_value": 30.0}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, data):
    fn, kwargs = UNARY[name]
    check(fn, data.draw(arrays(shapes(), **kwargs)))


# -- reductions and normalizations ----------------------------------------------------


def _axes(shape: tuple) -> st.SearchStrategy:
    n = len(shape)
    single = st.integers(-n, n - 1) if n else st.nothing()
    many = st.lists(st.integers(0, n - 1), unique=True, min_size=1).map(tuple) if n else st.nothing()
    return st.one_of(st.none(), single, many)


@given(data=st.data(), keepdims=st.booleans())
def test_sum_mean(data, keepdims):
    a = data.draw(arrays(shapes()))
    axis = data.draw(_axes(a.shape))
    check(lambda x: x.sum(axis=axis, keepdims=keepdims), a)
    check(lambda x: x.mean(axis=axis, keepdims=keepdims), a)


@given(data=st.data(), keepdims=st.booleans())
def test_max_without_ties(data, keepdims):
    shape = data.draw(shapes())
    elements = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2))
    a = data.draw(hnp.arrays(np.float64, shape, elements=elements, unique=True))
    axis = data.draw(_axes(shape))
    check(lambda x: x.max(axis=axis, keepdims=keepdims), a)


@given(data=st.data())
def test_softmax_log_softmax(data):
    a = data.draw(arrays(shapes(min_dims=1)))
    axis = data.draw(st.integers(-a.ndim, a.ndim - 1))
    check(lambda x: x.softmax(axis=axis), a)
    check(lambda x: x.log_softmax(axis=axis), a)


# -- shape ops ----------------------------------------------------------------------


@given(arrays(shapes(min_dims=1)))
def test_reshape_transpose(a):
    check(lambda x: x.reshape(-1), a)
    check(lambda x: x.reshape((*a.shape, 1)), a)
    check(lambda x: x.T, a)
    axes = tuple(reversed(range(a.ndim)))[1:] + (a.ndim - 1,) if a.ndim > 1 else (0,)
    axes = tuple(sorted(axes, key=lambda i: (i * 7) % (a.ndim + 1)))
    check(lambda x: x.transpose(axes), a)


@given(pairs.flatmap(lambda s: arrays(s[0]).map(lambda a: (a, np.broadcast_shapes(*s)))))
def test_broadcast_to_and_sum_to(case):
    a, target = case
    check(lambda x: x.broadcast_to(target), a)
    big = np.broadcast_to(a, target).copy()
    check(lambda x: x.sum_to(a.shape), big)


@given(arrays(shapes(min_dims=1, min_side=2)), st.data())
def test_getitem(a, data):
    n = a.shape[0]
    idx = data.draw(
        st.one_of(
            st.integers(-n, n - 1),
            st.just(slice(1, None)),
            st.just((Ellipsis, None)),
            st.lists(st.integers(0, n - 1), min_size=1, max_size=5).map(np.array),
        )
    )
    check(lambda x: x[idx], a)


@given(arrays(shapes(min_dims=2, max_dims=2)), arrays(shapes(min_dims=2, max_dims=2)))
def test_concatenate_stack(a, b):
    b = np.resize(b, (b.shape[0], a.shape[1]))
    check(lambda x, y: concatenate([x, y], axis=0), a, b)
    check(lambda x, y: concatenate([x.T, y.T, x.T], axis=-1), a, b)
    c = np.resize(b, a.shape)
    check(lambda x, y: stack([x, y, x * 2], axis=1), a, c)


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_where(ab):
    a, b = ab
    mask = np.broadcast_to(a > 0, np.broadcast_shapes(a.shape, b.shape))
    check(lambda x, y: where(mask, x * x, y), a, b)


def test_every_op_is_covered_here():
    covered = {
        "add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt", "abs", "tanh",
        "sigmoid", "relu", "leaky_relu", "sum", "mean", "max", "softmax", "log_softmax", "reshape",
        "transpose", "broadcast_to", "sum_to", "getitem", "scatter", "astype", "where",
        "concatenate", "stack", "softplus", "linear", "squared_error", "binary_cross_entropy",
        "linear_sigmoid", "linear_tanh", "linear_relu",
    }  # fmt: skip
    missing = set(OPS) - covered
    assert not missing, f"ops without a finite-difference test: {sorted(missing)}"


def test_astype_gradient_returns_to_source_dtype():
    x = Value(np.ones(3, dtype=np.float32))
    y = x.astype(np.float64) * 2.0
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2, 2, 2])


def test_linear_bias_may_broadcast_beyond_x_at_w():
    x, w, b = np.ones((5, 4)), Value(np.ones((4, 3))), Value(np.zeros((2, 1, 3)))
    z = apply(fused.LINEAR, x, w, b)
    assert z.shape == (2, 5, 3)
    z.sum().backward()
    np.testing.assert_array_equal(b.grad, np.full((2, 1, 3), 5.0))
    np.testing.assert_array_equal(w.grad, np.full((4, 3), 10.0))
