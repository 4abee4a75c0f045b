"""Forward mode: every op's tangent rule against finite differences and against reverse mode.

Two oracles for each J v: a central difference of the forward pass along v,
and the identity uᵀ(J v) = (Jᵀu)ᵀ v with the reverse mode's Jᵀu, which must
hold to rounding since the two modes share no derivative code. Every case
runs on the fast path and on the reference path.
"""

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import Value, autograd, concatenate, nn, ops, reference_mode, stack, where
from tinygrad_nn._fast import fused, switch
from tinygrad_nn.forward_mode import JVPS, NoJVPRule, push_tangents
from tinygrad_nn.ops import OPS
from tinygrad_nn.testing import arrays, broadcastable_shapes, shapes
from tinygrad_nn.value import apply

ENGINES = {"fast": switch.fast_mode, "reference": reference_mode}
EPS = 1e-6


def _direction(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    return rng.standard_normal(np.shape(a))


def _evaluate(fn: Callable, arrays_: list) -> np.ndarray:
    return np.asarray(fn(*[Value(a, requires_grad=False) for a in arrays_]).data, dtype=np.float64)


def check(fn: Callable, *arrays_: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6, seed: int = 0) -> None:
    """J v by forward mode against finite differences and against reverse mode, on both engines."""
    arrays_ = [np.asarray(a, dtype=np.float64) for a in arrays_]
    rng = np.random.default_rng(seed)
    vs = [_direction(rng, a) for a in arrays_]
    plus = _evaluate(fn, [a + EPS * v for a, v in zip(arrays_, vs, strict=True)])
    minus = _evaluate(fn, [a - EPS * v for a, v in zip(arrays_, vs, strict=True)])
    numeric = (plus - minus) / (2 * EPS)
    for engine, mode in ENGINES.items():
        with mode():
            xs = [Value(a) for a in arrays_]
            out = fn(*xs)
            (jv,) = push_tangents([out], list(zip(xs, vs, strict=True)))
            assert np.shape(jv) == out.shape and np.result_type(jv) == out.dtype, engine
            assert (type(jv) is float) == (type(out.data) is float), engine
            np.testing.assert_allclose(
                jv, numeric, rtol=rtol, atol=atol, err_msg=f"{engine}: J v vs differences"
            )
            u = rng.standard_normal(out.shape)
            grads = autograd.grad(out, xs, grad_output=u)
            forward = np.sum(u * jv)
            reverse = sum(np.sum(g * v) for g, v in zip(grads, vs, strict=True))
            scale = np.sum(np.abs(u * jv)) + sum(
                np.sum(np.abs(g * v)) for g, v in zip(grads, vs, strict=True)
            )
            assert abs(forward - reverse) <= 1e-12 * scale + 1e-300, (
                f"{engine}: uᵀJv {forward} vs (Jᵀu)ᵀv {reverse}"
            )


pairs = broadcastable_shapes(2, max_dims=3, max_side=3)


# -- the table covers every op ----------------------------------------------------------


def test_every_op_has_a_tangent_rule_with_one_entry_per_input():
    assert {"linear", "linear_sigmoid", "linear_tanh", "linear_relu"} <= set(OPS)  # fused ops registered
    assert not set(OPS) - set(JVPS), f"ops without a JVP rule: {sorted(set(OPS) - set(JVPS))}"
    assert not set(JVPS) - set(OPS), f"JVP rules for no op: {sorted(set(JVPS) - set(OPS))}"
    for name, op in OPS.items():
        rule = JVPS[name]
        if op.split is not None:
            assert rule.joint is not None and not rule.each, name
        else:
            assert rule.joint is None and len(rule.each) == len(op.vjps), name


def test_an_op_without_a_tangent_rule_is_named():
    # a user's op (the Function API's nodes are named after their class) that forward mode does not know
    swish = ops.Op("Swish", lambda x: x * 2.0, [lambda g, out, x: 2.0 * g])
    x = Value(1.0)
    out = apply(swish, x).exp()
    with pytest.raises(NoJVPRule, match="op 'Swish' has no tangent"):
        push_tangents([out], [(x, 1.0)])
    assert issubclass(NoJVPRule, NotImplementedError)
    assert push_tangents([apply(swish, x).exp()], []) == [0.0]  # no tangent reaches it: nothing to ask


# -- elementwise binary ------------------------------------------------------------------


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_add_sub_mul(ab):
    check(lambda x, y: x + y, *ab)
    check(lambda x, y: x - y, *ab)
    check(lambda x, y: x * y, *ab)


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1], away_from_zero=0.5))))
def test_div(ab):
    check(lambda x, y: x / y, *ab)


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0], min_value=0.5, max_value=2.0), arrays(s[1]))))
def test_pow_both_sides(ab):
    check(lambda x, y: x**y, *ab)


@given(arrays(shapes(), min_value=0.5, max_value=2.0), st.sampled_from([2, 3, 0.5, -1.5, 0.0]))
def test_pow_constant_exponent_and_constant_base(a, p):
    check(lambda x: x**p, a)
    check(lambda x: (p + 1.5) ** x, a)


def test_pow_conventions_match_reverse_mode_at_zero():
    # at a = 0: d/db a^b taken as 0; at b = 0: d/da a^b = 0 even at a = 0
    a, b = np.array([0.0, 2.0, 0.0]), np.array([2.0, 3.0, 0.0])
    for mode in ENGINES.values():
        with mode():
            xa, xb = Value(a), Value(b)
            out = xa**xb
            ones = np.ones(3)
            (via_b,) = push_tangents([out], [(xb, ones)])
            (via_a,) = push_tangents([out], [(xa, ones)])
            ga, gb = autograd.grad(out, [xa, xb], grad_output=ones)
            np.testing.assert_array_equal(via_b, [0.0, 8 * np.log(2.0), 0.0])
            np.testing.assert_array_equal(via_b, gb)
            np.testing.assert_array_equal(via_a, [0.0, 12.0, 0.0])
            np.testing.assert_array_equal(via_a, ga)


matmul_shapes = st.sampled_from(
    [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)),
     ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]
)  # fmt: skip


@given(matmul_shapes.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_matmul(ab):
    check(lambda x, y: x @ y, *ab)


# -- elementwise unary -----------------------------------------------------------------

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


# -- reductions, normalizations, shapes ------------------------------------------------


def _axes(shape: tuple) -> st.SearchStrategy:
    n = len(shape)
    single = st.integers(-n, n - 1) if n else st.nothing()
    many = st.lists(st.integers(0, n - 1), unique=True, min_size=1).map(tuple) if n else st.nothing()
    return st.one_of(st.none(), single, many)


@given(data=st.data(), keepdims=st.booleans())
def test_sum_mean_max(data, keepdims):
    shape = data.draw(shapes())
    a = data.draw(
        hnp.arrays(np.float64, shape, elements=st.floats(-3, 3).map(lambda v: round(v, 2)), unique=True)
    )
    axis = data.draw(_axes(shape))
    check(lambda x: x.sum(axis=axis, keepdims=keepdims), a)
    check(lambda x: x.mean(axis=axis, keepdims=keepdims), a)
    check(lambda x: x.max(axis=axis, keepdims=keepdims), a)


def test_max_ties_share_as_in_reverse_mode():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    v = np.array([[5.0, 1.0, 2.0], [3.0, 0.0, 6.0]])
    for mode in ENGINES.values():
        with mode():
            x = Value(a)
            out = x.max(axis=1)
            (jv,) = push_tangents([out], [(x, v)])
            np.testing.assert_array_equal(jv, [1.5, 3.0])  # the mean of the tied elements' tangents
            (g,) = autograd.grad(out, [x], grad_output=np.ones(2))
            assert np.sum(jv) == pytest.approx(np.sum(g * v), rel=1e-15)


@given(data=st.data())
def test_softmax_log_softmax(data):
    a = data.draw(arrays(shapes(min_dims=1)))
    axis = data.draw(st.integers(-a.ndim, a.ndim - 1))
    check(lambda x: x.softmax(axis=axis), a)
    check(lambda x: x.log_softmax(axis=axis), a)


@given(arrays(shapes(min_dims=1)))
def test_reshape_transpose(a):
    check(lambda x: x.reshape(-1), a)
    check(lambda x: x.reshape((*a.shape, 1)) * 2.0, a)
    check(lambda x: x.T, a)
    check(lambda x: x.transpose(tuple(np.roll(np.arange(a.ndim), 1))), a)


@given(pairs.flatmap(lambda s: arrays(s[0]).map(lambda a: (a, np.broadcast_shapes(*s)))))
def test_broadcast_to_and_sum_to(case):
    a, target = case
    check(lambda x: x.broadcast_to(target), a)
    check(lambda x: x.sum_to(a.shape), np.broadcast_to(a, target).copy())


@given(arrays(shapes(min_dims=1, min_side=2)), st.data())
def test_getitem_and_scatter(a, data):
    n = a.shape[0]
    idx = data.draw(
        st.one_of(
            st.integers(-n, n - 1),
            st.just(slice(1, None)),
            st.just((Ellipsis, None)),
            st.lists(st.integers(0, n - 1), min_size=1, max_size=5).map(np.array),  # repeats
        )
    )
    check(lambda x: x[idx], a)
    part = np.asarray(a[idx])
    check(lambda g: apply(ops.SCATTER, g, index=idx, shape=a.shape), part)


def test_astype_tangent_takes_the_new_dtype():
    for mode in ENGINES.values():
        with mode():
            x = Value(np.array([1.0, -2.0, 3.0]))
            out = x.astype(np.float32) * 2.0
            v = np.array([0.1, 0.2, 0.3])
            (jv,) = push_tangents([out], [(x, v)])
            assert jv.dtype == np.float32
            np.testing.assert_array_equal(jv, (2 * v).astype(np.float32))
            back = Value(np.ones(3, np.float32))
            (jb,) = push_tangents([back.astype(np.float64) * 3.0], [(back, np.ones(3, np.float32))])
            assert jb.dtype == np.float64 and (jb == 3.0).all()


@given(arrays(shapes(min_dims=2, max_dims=2)), arrays(shapes(min_dims=2, max_dims=2)))
def test_concatenate_stack(a, b):
    b = np.resize(b, (b.shape[0], a.shape[1]))
    check(lambda x, y: concatenate([x, y], axis=0), a, b)
    check(lambda x, y: concatenate([x.T, y.T, x.T], axis=-1), a, b)
    check(lambda x, y: concatenate([x, np.ones((1, a.shape[1])), y], axis=0), a, b)  # a constant piece
    c = np.resize(b, a.shape)
    check(lambda x, y: stack([x, y, x * 2, np.zeros(a.shape)], axis=1), a, c)


@given(pairs.flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_where_with_a_broadcast_mask(ab):
    a, b = ab
    mask = np.broadcast_to(a > 0, np.broadcast_shapes(a.shape, b.shape))
    check(lambda x, y: where(mask, x * x, y), a, b)
    check(lambda x, y: where(a > 0, x, y.exp()), a, b)


# -- losses -----------------------------------------------------------------------------


@given(shapes().flatmap(lambda s: st.tuples(arrays(s), arrays(s))), st.sampled_from([0.5, 1.0, 0.1]))
def test_squared_error(pt, scale):
    check(lambda p, t: apply(ops.SQUARED_ERROR, p, t, scale=scale), *pt)


@given(
    pairs.flatmap(
        lambda s: st.tuples(
            arrays(s[0], min_value=0.05, max_value=0.95), arrays(s[1], min_value=0.0, max_value=1.0)
        )
    )
)
def test_binary_cross_entropy(pt):
    check(lambda p, t: apply(ops.BINARY_CROSS_ENTROPY, p, t), *pt)


# -- the fast path's fused ops ----------------------------------------------------------

linear_shapes = st.sampled_from(
    [((5, 3), (3, 2), (2,)), ((3,), (3, 4), (4,)), ((2, 5, 3), (3, 2), (2,)), ((4, 3), (3, 2), (1,)),
     ((4, 3), (3, 2), (2, 1, 2))]
)  # fmt: skip


@pytest.mark.parametrize("name", ["linear", "linear_sigmoid", "linear_tanh", "linear_relu"])
@given(xwb=linear_shapes.flatmap(lambda s: st.tuples(*(arrays(n, max_value=2.0) for n in s))))
def test_fused_linear_ops(name, xwb):
    z = np.asarray(fused.LINEAR.forward(*xwb))
    assume(name != "linear_relu" or np.all(np.abs(z) > 1e-3))  # relu′ jumps at 0
    check(lambda x, w, b: apply(OPS[name], x, w, b), *xwb)


@pytest.mark.parametrize("act", [nn.Sigmoid, nn.Tanh, nn.ReLU])
def test_a_dense_layer_and_activation_on_both_engines(act):
    x = np.random.default_rng(1).standard_normal((5, 3))
    rng = np.random.default_rng(2)
    vx, vw, vb = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    results = {}
    for engine, mode in ENGINES.items():
        with mode():
            m = nn.Sequential(nn.Dense(3, 4, rng=0, bias_init="normal"), act())
            xv = Value(x)
            out = m(xv)
            fused_name = {nn.Sigmoid: "linear_sigmoid", nn.Tanh: "linear_tanh", nn.ReLU: "linear_relu"}[act]
            assert out.op == (fused_name if engine == "fast" else type(act()).__name__.lower())
            dense = m[0]
            (jv,) = push_tangents([out], [(xv, vx), (dense.weight, vw), (dense.bias, vb)])
            results[engine] = jv
            u = np.random.default_rng(3).standard_normal(out.shape)
            gx, gw, gb = autograd.grad(out, [xv, dense.weight, dense.bias], grad_output=u)
            reverse = np.sum(gx * vx) + np.sum(gw * vw) + np.sum(gb * vb)
            assert np.sum(u * jv) == pytest.approx(reverse, rel=1e-12)
    np.testing.assert_allclose(results["fast"], results["reference"], rtol=1e-13, atol=1e-15)


# -- broadcasting and scalars -----------------------------------------------------------


def test_a_broadcast_input_gets_a_tangent_of_the_output_shape():
    for mode in ENGINES.values():
        with mode():
            row, grid = Value(np.array([1.0, 2.0, 3.0])), Value(np.ones((2, 3)))
            out = row * grid + row
            (only_row,) = push_tangents([out], [(row, np.array([1.0, 0.0, -1.0]))])
            assert only_row.shape == (2, 3)
            np.testing.assert_array_equal(only_row, [[2.0, 0.0, -2.0], [2.0, 0.0, -2.0]])
            (only_grid,) = push_tangents([out], [(grid, np.ones((2, 3)))])
            np.testing.assert_array_equal(only_grid, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
