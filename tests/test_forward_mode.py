"""Forward mode: every op's tangent rule against finite differences and against reverse mode.

Two oracles for each J v: a central difference of the forward pass along v,
and the identity uᵀ(J v) = (Jᵀu)ᵀ v with the reverse mode's Jᵀu, which must
hold to rounding since the two modes share no derivative code. Every case
runs on the fast path and on the reference path.
"""

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import Value, autograd, concatenate, jvp, nn, no_grad, ops, reference_mode, stack, vjp, where
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


def test_python_float_scalars_give_python_float_tangents():
    for mode in ENGINES.values():
        with mode():
            out, tangent = jvp(lambda a, b: (a * b).tanh() + a / b, (0.5, -2.0), (1.0, 0.25))
            assert type(out.data) is float and type(tangent.data) is float
            t = np.tanh(-1.0)
            want = (1 - t * t) * (1.0 * -2.0 + 0.5 * 0.25) + 1.0 / -2.0 - 0.5 * 0.25 / 4.0
            assert tangent.data == pytest.approx(want, rel=1e-14)
            # a scalar against an array: the tangent of the array output
            _, mixed = jvp(lambda s, v: s * v, (2.0, np.arange(3.0)), (1.0, np.zeros(3)))
            np.testing.assert_array_equal(mixed.data, [0.0, 1.0, 2.0])


def test_float32_stays_float32():
    x = np.linspace(-1, 1, 4, dtype=np.float32)
    out, tangent = jvp(lambda v: (v.tanh() * 3.0).sum(), (x,), (np.ones(4, np.float32),))
    assert out.dtype == np.float32 and tangent.dtype == np.float32
    assert tangent.item() == pytest.approx(
        float(np.sum(3 * (1 - np.tanh(x.astype(np.float64)) ** 2))), rel=1e-6
    )


# -- jvp and vjp, the function transforms -------------------------------------------------


def test_jvp_returns_constants_of_fs_structure():
    def f(x, y):
        return (x * y).sum(), [x.exp(), y]

    with pytest.raises(
        TypeError, match="f must return a Value or a tuple or list of Values, got a list holding"
    ):
        jvp(lambda x: [x, 1.0], (1.0,), (1.0,))
    x, y = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    out, tangent = jvp(lambda a, b: (f(a, b)[0], *f(a, b)[1]), (x, y), (np.ones(2), np.zeros(2)))
    assert isinstance(out, tuple) and isinstance(tangent, tuple) and len(tangent) == 3
    assert all(not t.requires_grad and t.is_leaf for t in (*out, *tangent))
    assert tangent[0].item() == 5.0
    np.testing.assert_array_equal(tangent[1].data, np.exp(x))
    np.testing.assert_array_equal(tangent[2].data, [0.0, 0.0])  # an input returned as it is
    out, tangent = jvp(lambda a: [a * 2.0], [x], [np.ones(2)])  # a list stays a list
    assert isinstance(tangent, list) and (tangent[0].data == 2.0).all()


def test_jvp_starts_from_leaves_of_its_own():
    made = Value(np.array([1.0, 2.0])) * 3.0  # a primal with a history: the tangent starts at it
    _, tangent = jvp(lambda v: v * v, (made,), (np.array([1.0, 1.0]),))
    np.testing.assert_array_equal(tangent.data, [6.0, 12.0])
    assert made.grad is None and made.op == "mul"
    with no_grad():  # f is recorded even when the caller has recording off
        _, inside = jvp(lambda v: v.exp(), (0.0,), (2.0,))
    assert inside.item() == 2.0


def test_jvp_errors_name_the_argument():
    f = lambda x, y: x * y
    x, y = np.zeros((2, 3)), np.zeros(3)
    with pytest.raises(
        ValueError, match=r"jvp: tangents\[1\] has shape \(2, 3\) but primals\[1\] has shape \(3,\)"
    ):
        jvp(f, (x, y), (x, x))
    with pytest.raises(
        TypeError, match=r"jvp: tangents\[0\] has dtype float32 but primals\[0\] has dtype float64"
    ):
        jvp(f, (x, y), (x.astype(np.float32), y))
    with pytest.raises(
        ValueError, match=r"jvp: tangents\[0\] is a number but primals\[0\] has shape \(2, 3\)"
    ):
        jvp(f, (x, y), (1.0, y))
    with pytest.raises(TypeError, match=r"jvp: tangents\[1\] must be a real number or array, got dtype bool"):
        jvp(f, (x, y), (x, y > 0))
    with pytest.raises(ValueError, match="jvp: 2 primals but 1 tangents"):
        jvp(f, (x, y), (x,))
    with pytest.raises(TypeError, match="jvp: primals must be a tuple or list with one entry per argument"):
        jvp(lambda v: v, x, x)
    with pytest.raises(TypeError, match=r"jvp: primals\[0\]: Value: data must be numeric"):
        jvp(lambda v: v, ("a",), (1.0,))
    # integer tangents convert to the primal's dtype
    _, t = jvp(lambda v: v * 2.0, (np.ones(2, np.float32),), (np.array([1, 2]),))
    assert t.dtype == np.float32 and t.data.tolist() == [2.0, 4.0]


def test_vjp_gives_one_gradient_per_primal_and_is_differentiable():
    x, y = np.array([0.5, -1.0, 2.0]), 1.5
    out, vjp_fn = vjp(lambda a, b: (a * b).tanh(), x, y)
    assert out.shape == (3,) and out.requires_grad
    u = np.array([1.0, -2.0, 0.5])
    gx, gy = vjp_fn(u)
    t = np.tanh(x * y)
    np.testing.assert_allclose(gx.data, u * (1 - t * t) * y, rtol=1e-14)
    assert gy.item() == pytest.approx(float(np.sum(u * (1 - t * t) * x)), rel=1e-14)
    assert type(gy.data) is float
    # called again, and differentiated again: d/dx of uᵀJ summed
    again = vjp_fn(u)[0]
    np.testing.assert_array_equal(again.data, gx.data)
    xv = Value(x)
    _, inner = vjp(lambda a: (a**3).sum(), xv)
    (g,) = inner(1.0)
    (h,) = autograd.grad(g.sum(), [xv])
    np.testing.assert_allclose(h, 6 * x)


def test_vjp_of_several_outputs_sums_their_pullbacks():
    out, vjp_fn = vjp(lambda a: (a.exp(), a * 2.0, Value(1.0, requires_grad=False)), np.zeros(2))
    assert isinstance(out, tuple) and len(out) == 3
    (g,) = vjp_fn((np.ones(2), np.array([1.0, 2.0]), 5.0))
    np.testing.assert_array_equal(g.data, [3.0, 5.0])
    with pytest.raises(ValueError, match="vjp_fn: 2 cotangents for 3 outputs"):
        vjp_fn((np.ones(2), np.ones(2)))
    with pytest.raises(
        ValueError, match=r"vjp_fn: cotangent\[1\] has shape \(3,\) but f's output 1 has shape \(2,\)"
    ):
        vjp_fn((np.ones(2), np.ones(3), 1.0))
    with pytest.raises(
        TypeError, match="vjp_fn: cotangent must be a tuple or list with one entry per output"
    ):
        vjp_fn(np.ones(2))
    _, single = vjp(lambda a: a * 2.0, np.zeros(2))
    with pytest.raises(
        TypeError, match="vjp_fn: the cotangent has dtype float32 but f's output has dtype float64"
    ):
        single(np.ones(2, np.float32))
    (z,) = vjp(lambda a: Value(np.ones(2), requires_grad=False), np.zeros(2))[1](np.ones(2))
    assert z.data.tolist() == [0.0, 0.0]  # f does not depend on a


def test_forward_mode_runs_no_vjp_rule(monkeypatch):
    """Forward mode is an independent oracle: with every VJP rule broken it still works."""

    def broken(*args, **kwargs):
        raise AssertionError("a VJP rule ran")

    class Broken(tuple):
        def __getitem__(self, i):
            return broken

    for op in OPS.values():
        monkeypatch.setattr(op, "vjps", Broken())
        monkeypatch.setattr(op, "kernels", Broken())
        monkeypatch.setattr(op, "split", broken)
    rng = np.random.default_rng(4)
    x, labels = rng.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    for mode in ENGINES.values():
        with mode():
            model = nn.Sequential(nn.Dense(3, 4, rng=0), nn.Tanh(), nn.Dense(4, 3, rng=1))
            _, tangent = jvp(
                lambda v, m=model: nn.losses.cross_entropy(m(v), labels), (x,), (np.ones_like(x),)
            )
            plus = nn.losses.cross_entropy(model(x + EPS), labels).item()
            minus = nn.losses.cross_entropy(model(x - EPS), labels).item()
            assert tangent.item() == pytest.approx((plus - minus) / (2 * EPS), rel=1e-6)
            with pytest.raises(AssertionError, match="a VJP rule ran"):
                vjp(lambda v, m=model: m(v).sum(), x)[1](1.0)


def test_a_wrong_vjp_rule_shows_as_a_disagreement_with_forward_mode(monkeypatch):
    wrong = lambda g, out, x: g * (1.0 - out)  # a missing factor: not tanh′
    with reference_mode():
        x = np.array([0.3, -0.8, 1.1])
        f = lambda v: (v.tanh() * 2.0).sum()
        (right,) = vjp(f, x)[1](1.0)
        monkeypatch.setattr(ops.TANH, "vjps", (wrong,))
        monkeypatch.setattr(ops.TANH, "kernels", (wrong,))
        (bad,) = vjp(f, x)[1](1.0)
        v = np.array([1.0, 2.0, -1.0])
        _, jv = jvp(f, (x,), (v,))
        assert jv.item() == pytest.approx(float(np.dot(right.data, v)), rel=1e-14)
        assert abs(jv.item() - float(np.dot(bad.data, v))) > 0.1


# -- against torch.func ------------------------------------------------------------------


_NET = nn.Sequential(
    nn.Dense(3, 5, rng=0, bias_init="normal"), nn.Tanh(), nn.Dense(5, 2, rng=1), nn.Sigmoid()
)
LABELS = np.array([1, 0, 3, 2])


def _torch_functions(torch):
    """The torch version of each function below, given the torch module (imported only when present)."""
    w1, b1, w2, b2 = (torch.tensor(p.data) for p in _NET.parameters())
    return {
        "mlp": lambda x, w1, b1, w2, b2: torch.sigmoid(torch.tanh(x @ w1 + b1) @ w2 + b2),
        "dense_network": lambda x: torch.sigmoid(torch.tanh(x @ w1 + b1) @ w2 + b2),
        "softmax_cross_entropy": lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(LABELS)),
        "two_inputs": lambda x, y: (
            (x * y.exp()).sum(dim=0) / (1.0 + y * y),
            torch.log_softmax(x @ y, dim=0),
        ),
    }


FUNCTIONS = {  # name: (f, the shapes of its inputs)
    "mlp": (
        lambda x, w1, b1, w2, b2: ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid(),
        ((4, 3), (3, 5), (5,), (5, 2), (2,)),
    ),
    "dense_network": (_NET, ((4, 3),)),  # fused nodes on the fast path
    "softmax_cross_entropy": (lambda z: nn.losses.cross_entropy(z, LABELS), ((4, 5),)),
    "two_inputs": (
        lambda x, y: ((x * y.exp()).sum(axis=0) / (1.0 + y * y), (x @ y).softmax(axis=0).log()),
        ((3, 4), (4,)),
    ),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_jvp_and_vjp_agree_with_torch_func(name, engine):
    torch = pytest.importorskip("torch")
    ours, input_shapes = FUNCTIONS[name]
    theirs = _torch_functions(torch)[name]
    rng = np.random.default_rng(7)
    primals = [rng.standard_normal(s) for s in input_shapes]
    tangents = [rng.standard_normal(s) for s in input_shapes]

    def as_torch(arrays_):
        return tuple(torch.tensor(a, dtype=torch.float64) for a in arrays_)

    with (
        warnings.catch_warnings()
    ):  # torch's first jvp loads decompositions with the deprecated torch.jit.script
        warnings.simplefilter("ignore", DeprecationWarning)
        t_out, t_tangent = torch.func.jvp(theirs, as_torch(primals), as_torch(tangents))
    t_out2, t_pullback = torch.func.vjp(theirs, *as_torch(primals))
    single = isinstance(t_out, torch.Tensor)
    cotangents = [rng.standard_normal(tuple(o.shape)) for o in ([t_out] if single else t_out)]
    t_grads = t_pullback(as_torch(cotangents)[0] if single else as_torch(cotangents))
    with ENGINES[engine]():
        if name == "dense_network":
            assert _NET(Value(primals[0])).op == ("linear_sigmoid" if engine == "fast" else "sigmoid")
        out, tangent = jvp(ours, tuple(primals), tuple(tangents))
        out2, pullback = vjp(ours, *primals)
        grads = pullback(cotangents[0] if single else tuple(cotangents))
    if single:
        out, tangent, out2, t_out, t_tangent, t_out2 = (
            (x,) for x in (out, tangent, out2, t_out, t_tangent, t_out2)
        )
    assert len(grads) == len(primals)
    for mine, want in zip(
        (*out, *tangent, *out2, *grads), (*t_out, *t_tangent, *t_out2, *t_grads), strict=True
    ):
        assert mine.shape == tuple(want.shape)
        np.testing.assert_allclose(mine.data, want.detach().numpy(), rtol=1e-12, atol=1e-14)
