"""The Value engine: construction, hand-checked derivatives, graph rules, errors."""

import math
import sys
import warnings

import numpy as np
import pytest

from tinygrad_nn import Value, concatenate, no_grad, stack, where
from tinygrad_nn.autograd import toposort

# -- construction -----------------------------------------------------------


def test_scalars_hold_python_floats():
    a = Value(2)
    assert type(a.data) is float and a.data == 2.0
    assert a.shape == () and a.ndim == 0 and a.size == 1 and a.dtype == np.float64
    assert a.requires_grad and a.grad is None and a.is_leaf


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([[1, 2], [3, 4]], np.float64),
        (np.arange(6).reshape(2, 3), np.float64),
        (np.array([True, False]), np.float64),
        (np.ones(3, dtype=np.float32), np.float32),
        (np.ones(3, dtype=np.float64), np.float64),
    ],
)
def test_dtype_rules(data, dtype):
    v = Value(data)
    assert v.dtype == dtype
    assert np.array_equal(np.asarray(v), np.asarray(data, dtype=dtype))


def test_explicit_dtype_and_copy():
    src = np.ones(3)
    v = Value(src, dtype=np.float32)
    assert v.dtype == np.float32
    w = Value(src)
    w.data[0] = 5.0
    assert src[0] == 1.0, "Value copies its input array"
    s = Value(1.5, dtype=np.float32)
    assert s.dtype == np.float32 and s.shape == ()


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("abc", "numeric"),
        (b"abc", "numeric"),
        (1 + 2j, "complex"),
        (np.array([1 + 1j]), "complex"),
        (np.array(["a", "b"]), "numeric"),
        (np.array([object()], dtype=object), "numeric"),
        ([[1, 2], [3]], "Value"),
    ],
)
def test_non_numeric_data_rejected(bad, match):
    with pytest.raises(TypeError, match=match):
        Value(bad)


def test_integer_dtype_rejected():
    with pytest.raises(TypeError, match="floating"):
        Value([1, 2], dtype=np.int64)


def test_item_array_protocol_and_repr():
    v = Value([[1.0, 2.0]])
    assert np.asarray(v).shape == (1, 2)
    assert Value([3.5]).item() == 3.5
    with pytest.raises(ValueError, match=r"item: .*shape \(1, 2\)"):
        v.item()
    assert repr(Value(2.0)) == "Value(2.0)"
    r = repr(Value(np.ones(2, dtype=np.float32)) * 2)
    assert "dtype=float32" in r and "op='mul'" in r
    assert f"{Value(1.0) / 3:.3f}" == "0.333"
    assert float(Value(2.5)) == 2.5
    assert len(Value(np.zeros((4, 2)))) == 4
    assert [x.item() for x in Value([1.0, 2.0])] == [1.0, 2.0]


# -- hand-checked derivatives ------------------------------------------------


def test_issue_example_scalar():
    a, b = Value(2.0), Value(-3.0)
    c = (a * b + b**2).tanh()
    c.backward()
    t = math.tanh(3.0)
    assert c.data == pytest.approx(t)
    assert a.grad == pytest.approx((1 - t * t) * -3.0)
    assert b.grad == pytest.approx((1 - t * t) * (2.0 + 2 * -3.0))


def test_micrograd_style_expression():
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    # Values from expanding the expression by hand (as checked against PyTorch by micrograd's tests).
    assert g.data == pytest.approx(24.70408163265306)
    assert a.grad == pytest.approx(138.83381924198252)
    assert b.grad == pytest.approx(645.5772594752187)


def test_value_exponent_and_reflected_ops():
    x, y = Value(2.0), Value(3.0)
    z = x**y
    z.backward()
    assert z.data == 8.0
    assert x.grad == pytest.approx(3 * 4.0)
    assert y.grad == pytest.approx(8.0 * math.log(2.0))
    w = Value(3.0)
    r = 2.0**w + 1 / w - (5 - w)
    r.backward()
    assert w.grad == pytest.approx(8 * math.log(2) - 1 / 9 + 1)


def test_array_example_from_issue():
    rng = np.random.default_rng(0)
    W = Value(rng.standard_normal((4, 3)))
    x = rng.standard_normal((8, 4))
    loss = ((x @ W).sigmoid() - 1.0).sum()
    loss.backward()
    s = 1 / (1 + np.exp(-(x @ W.data)))
    assert W.grad.shape == (4, 3)
    np.testing.assert_allclose(W.grad, x.T @ (s * (1 - s)), rtol=1e-12)


def test_231_sigmoid_network_matches_delta_formulas():
    """E = ½ Σ (O_k − t_k)²; δ_k = (O_k − t_k) O_k (1 − O_k); δ_j = O_j (1 − O_j) Σ_k δ_k W_jk."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2))
    t = rng.uniform(size=(5, 1))
    W1, b1 = Value(rng.standard_normal((2, 3))), Value(rng.standard_normal(3))
    W2, b2 = Value(rng.standard_normal((3, 1))), Value(rng.standard_normal(1))
    z_j = x @ W1 + b1
    O_j = z_j.sigmoid()
    z_k = O_j @ W2 + b2
    O_k = z_k.sigmoid()
    E = 0.5 * ((O_k - t) ** 2).sum()
    E.backward()

    Oj, Ok = O_j.data, O_k.data
    delta_k = (Ok - t) * Ok * (1 - Ok)
    delta_j = Oj * (1 - Oj) * (delta_k @ W2.data.T)
    np.testing.assert_allclose(z_k.grad, delta_k, rtol=1e-12)  # δ is ∂E/∂z
    np.testing.assert_allclose(z_j.grad, delta_j, rtol=1e-12)
    np.testing.assert_allclose(W2.grad, Oj.T @ delta_k, rtol=1e-12)  # ∂E/∂W_jk = O_j δ_k
    np.testing.assert_allclose(b2.grad, delta_k.sum(0), rtol=1e-12)  # ∂E/∂θ_k = δ_k
    np.testing.assert_allclose(W1.grad, x.T @ delta_j, rtol=1e-12)  # ∂E/∂W_ij = O_i δ_j
    np.testing.assert_allclose(b1.grad, delta_j.sum(0), rtol=1e-12)


# -- graph rules --------------------------------------------------------------


def test_reuse_sums_contributions():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    y = Value(2.0)
    a = y * 3
    b = y.exp()
    (a * b + a).backward()  # diamond through y
    assert y.grad == pytest.approx(3 * math.exp(2) + 6 * math.exp(2) + 3)


def test_shared_weight_in_two_layers():
    rng = np.random.default_rng(2)
    W = Value(rng.standard_normal((3, 3)))
    x = rng.standard_normal((4, 3))
    h = (x @ W).tanh()
    out = (h @ W).sum()
    out.backward()
    g_out = np.ones((4, 3))
    hd = np.tanh(x @ W.data)
    expected = hd.T @ g_out + x.T @ ((g_out @ W.data.T) * (1 - hd**2))
    np.testing.assert_allclose(W.grad, expected, rtol=1e-12)


def test_backward_twice_doubles_every_gradient():
    rng = np.random.default_rng(3)
    W = Value(rng.standard_normal((3, 2)))
    x = Value(rng.standard_normal((4, 3)))
    z = x @ W
    loss = (z.tanh() * 2).sum()
    loss.backward()
    first = {k: np.copy(v.grad) for k, v in {"W": W, "x": x, "z": z, "loss": loss}.items()}
    loss.backward()
    for name, v in {"W": W, "x": x, "z": z, "loss": loss}.items():
        np.testing.assert_allclose(v.grad, 2 * first[name], rtol=1e-15, err_msg=name)


def test_leaf_grads_never_alias():
    x, y = Value(np.ones(3)), Value(np.ones(3))
    (x + y).sum().backward()
    x.grad *= 10  # in-place change by a user or an optimizer
    assert np.array_equal(y.grad, np.ones(3))


def test_constants_are_not_differentiated():
    batch = Value(np.ones((2, 3)), requires_grad=False)
    W = Value(np.ones((3, 1)))
    out = (batch @ W).sum()
    out.backward()
    assert batch.grad is None
    assert W.grad is not None
    assert [id(v) for v in toposort(out)].count(id(batch)) == 0
    const = Value(2.0, requires_grad=False) * 3
    assert not const.requires_grad and const.is_leaf


def test_no_grad_records_nothing():
    w = Value(np.ones(2))
    with no_grad():
        y = (w * 3).sum()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    z = (w * 3).sum()
    assert z.requires_grad

    @no_grad()
    def evaluate(v):
        return v * 2

    assert not evaluate(w).requires_grad


def test_detach_cuts_the_graph():
    x = Value(3.0)
    y = x * x.detach()
    y.backward()
    assert x.grad == 3.0


def test_million_node_chain_no_recursion_error():
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0000001
    assert sys.getrecursionlimit() < 1_000_000
    y.backward()
    assert x.grad == pytest.approx(1.0000001**1_000_000, rel=1e-9)
    del y  # freeing a deep graph must not overflow the C stack either


def test_intermediate_grads_are_filled():
    x = Value(np.array([1.0, -2.0]))
    h = x * 2
    y = h.relu().sum()
    y.backward()
    np.testing.assert_array_equal(h.grad, [1.0, 0.0])
    np.testing.assert_array_equal(x.grad, [2.0, 0.0])


# -- kinks and ties -------------------------------------------------------------


def test_kink_conventions():
    x = Value(np.array([-1.0, 0.0, 2.0]))
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])
    y = Value(np.array([-1.0, 0.0, 2.0]))
    y.abs().sum().backward()
    np.testing.assert_array_equal(y.grad, [-1.0, 0.0, 1.0])
    s = Value(0.0)
    s.relu().backward()
    assert s.grad == 0.0


def test_max_splits_gradient_equally_among_ties():
    x = Value(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]))
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    y = Value(np.array([5.0, 5.0, 5.0, 1.0]))
    y.max().backward()
    np.testing.assert_allclose(y.grad, [1 / 3, 1 / 3, 1 / 3, 0.0])


# -- dtype -----------------------------------------------------------------------


def test_float32_stays_float32():
    rng = np.random.default_rng(4)
    W = Value(rng.standard_normal((4, 3)).astype(np.float32))
    b = Value(np.zeros(3, dtype=np.float32))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    out = ((x @ W + b).tanh() * 0.5 + 1.0).sigmoid().softmax().log().mean()
    assert out.dtype == np.float32
    out.backward()
    assert W.grad.dtype == np.float32 and b.grad.dtype == np.float32


def test_mixed_precision_grads_keep_each_dtype():
    a = Value(np.ones(3, dtype=np.float32))
    b = Value(np.ones(3, dtype=np.float64))
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
@pytest.mark.parametrize(
    "other",
    [np.full(3, 1.5), np.full((2, 3), 1.5, dtype=np.float32), np.array(1.5, dtype=np.float32), 1.5],
    ids=["array", "float32 matrix", "float32 0-d", "float"],
)
def test_each_gradient_has_the_kind_of_its_input(op, other):
    # The walk takes a Python float contribution as final (Op's contract: a rule
    # returns a float only for a float input); everything else is conformed.
    for reflected in (False, True):
        s, o = Value(0.75), Value(other)
        out = getattr(s, f"__r{op}__" if reflected else f"__{op}__")(o)
        (out if out.size == 1 else out.sum()).backward()
        assert type(s.grad) is float
        if type(o.data) is float:
            assert type(o.grad) is float
        else:
            assert type(o.grad) is np.ndarray
            assert o.grad.shape == o.data.shape and o.grad.dtype == o.data.dtype


def test_numpy_scalar_constants_and_dot_products_send_back_their_inputs_kind():
    w = Value(0.75)
    (np.float64(2.0) * w + w * np.float32(3.0) + np.array(1.0) * w).backward()
    assert type(w.grad) is float and w.grad == 6.0
    u, v = Value(np.ones(3)), Value(np.arange(3.0))
    (u @ v).backward()
    assert type(u.grad) is np.ndarray and u.grad.tolist() == [0.0, 1.0, 2.0]


# -- numerics --------------------------------------------------------------------


def test_extreme_inputs_stay_finite_and_silent():
    big = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (
            lambda v: v.sigmoid(),
            lambda v: v.tanh(),
            lambda v: v.softmax(),
            lambda v: v.log_softmax(),
        ):
            x = Value(big)
            y = fn(x)
            assert np.all(np.isfinite(y.data))
            (y * np.arange(5.0)).sum().backward()
            assert np.all(np.isfinite(x.grad))
        s = Value(big).sigmoid().data
        np.testing.assert_allclose(s[[0, 4]], [0.0, 1.0])
        np.testing.assert_allclose(Value(big).log_softmax().data[-1], 0.0)
        for v in (-1000.0, 1000.0):
            for fn in (lambda u: u.sigmoid(), lambda u: u.tanh()):
                sx = Value(v)
                fn(sx).backward()
                assert math.isfinite(sx.grad)
        assert Value(1000.0).exp().data == math.inf
        assert Value(0.0).log().data == -math.inf
        assert math.isinf(Value(np.array([0.0])).log().data[0])


def test_scalar_division_by_zero_follows_ieee():
    x = Value(0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = 1.0 / x
        assert y.data == math.inf
        z = x.log()
        z.backward()
    assert x.grad == math.inf


# -- shape ops -----------------------------------------------------------------


def test_concatenate_and_stack_split_gradients():
    a, b = Value(np.ones((2, 3))), Value(np.ones((1, 3)))
    c = concatenate([a, b], axis=0)
    assert c.shape == (3, 3)
    (c * np.arange(9.0).reshape(3, 3)).sum().backward()
    np.testing.assert_array_equal(a.grad, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b.grad, [[6.0, 7.0, 8.0]])
    p, q = Value(np.zeros(2)), Value(np.zeros(2))
    s = stack([p, q], axis=-1)
    assert s.shape == (2, 2)
    (s * np.array([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(p.grad, [1.0, 3.0])
    np.testing.assert_array_equal(q.grad, [2.0, 4.0])


def test_getitem_with_repeated_integer_indices_accumulates():
    x = Value(np.arange(4.0))
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0, 0.0])
    y = Value(np.arange(6.0).reshape(2, 3))
    y[:, 1:].sum().backward()
    np.testing.assert_array_equal(y.grad, [[0, 1, 1], [0, 1, 1]])
    z = Value(np.arange(6.0).reshape(2, 3))
    z[np.arange(2), np.array([2, 0])].sum().backward()
    np.testing.assert_array_equal(z.grad, [[0, 0, 1], [1, 0, 0]])


def test_where_routes_gradients():
    x, y = Value(np.ones(3)), Value(np.ones(3))
    where(np.array([True, False, True]), x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, [1, 0, 1])
    np.testing.assert_array_equal(y.grad, [0, 1, 0])


def test_reshape_transpose_forms():
    x = Value(np.arange(6.0))
    assert x.reshape(2, 3).shape == x.reshape((2, 3)).shape == (2, 3)
    assert x.reshape(2, 3).T.shape == (3, 2)
    y = Value(np.zeros((2, 3, 4)))
    assert y.transpose(1, 0, 2).shape == (3, 2, 4) == y.transpose((1, 0, 2)).shape
    assert y.transpose().shape == (4, 3, 2)


# -- bad input -------------------------------------------------------------------


def test_matmul_shape_error():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        Value(np.ones((3, 4))) @ np.ones((5, 2))
    with pytest.raises(ValueError, match=r"matmul: .*at least 1-d"):
        Value(np.ones(3)) @ 2.0


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\) cannot be broadcast together"):
        Value(np.ones(3)) + np.ones(4)
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2,\)"):
        np.ones((2, 3)) * Value(np.ones(2))


def test_non_numeric_operands_rejected():
    with pytest.raises(TypeError, match="mul: unsupported operand of type str"):
        Value(1.0) * "a"
    with pytest.raises(TypeError, match="add: complex numbers are not supported"):
        Value(1.0) + 1j
    with pytest.raises(TypeError, match="add: unsupported operand of an array of dtype <U1"):
        Value(np.ones(2)) + np.array(["a", "b"])


def test_backward_errors():
    with pytest.raises(RuntimeError, match="backward: this Value does not require grad"):
        Value(1.0, requires_grad=False).backward()
    v = Value(np.ones((8, 3))) * 2
    with pytest.raises(ValueError, match=r"backward: grad can be omitted only .* shape \(8, 3\)"):
        v.backward()
    with pytest.raises(
        ValueError, match=r"backward: grad has shape \(3,\) but this Value has shape \(8, 3\)"
    ):
        v.backward(np.ones(3))
    with pytest.raises(TypeError, match="backward: unsupported operand of type str"):
        v.backward("x")
    v.backward(np.full((8, 3), 2.0))
    single = Value(np.ones((1, 1))) * 3
    single.backward()
    assert single.grad.shape == (1, 1)


def test_index_and_axis_errors_name_the_op():
    with pytest.raises(IndexError, match=r"getitem: .*out of bounds"):
        Value(np.ones(3))[5]
    with pytest.raises(ValueError, match=r"sum: .*axis"):
        Value(np.ones(3)).sum(axis=2)
    with pytest.raises(ValueError, match=r"reshape: .*size 6"):
        Value(np.ones(6)).reshape(4, 2)
    with pytest.raises(ValueError, match="concatenate: need at least one"):
        concatenate([])


def test_value_subclasses_take_part_in_ops():
    class Tagged(Value):
        __slots__ = ()

    w = Tagged(np.ones(2))
    y = (w * 3 + w).sum()
    y.backward()
    np.testing.assert_array_equal(w.grad, [4.0, 4.0])


@pytest.mark.parametrize(
    "fn",
    [lambda v: v.log(), lambda v: v.sqrt(), lambda v: v**0.5, lambda v: 1.0 / (v + 1.0)],
    ids=["log", "sqrt", "pow", "div"],
)
def test_domain_edges_agree_between_floats_and_arrays(fn):
    """Outside a function's domain, scalars and arrays give the same IEEE result and warning."""
    for data in (-1.0, np.array([-1.0])):
        with pytest.warns(RuntimeWarning):
            out = fn(Value(data))
        assert np.isnan(np.asarray(out.data)).all() or np.isinf(np.asarray(out.data)).all()


@pytest.mark.parametrize("shape", [(4,), (2,), (3, 3), (2, 2, 3), (5, 1)])
def test_sum_to_refuses_a_shape_it_cannot_reach(shape):
    """Only axes broadcasting could have added or stretched can be summed away."""
    x = Value(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^sum_to: cannot sum shape \(2, 3\) down to"):
        x.sum_to(shape)
    for ok in [(3,), (1, 3), (2, 1), (1, 1), (), (2, 3)]:
        assert x.sum_to(ok).shape == ok


def test_index_arrays_and_masks_are_captured_at_forward_time():
    """Refilling the caller's index array or mask after the forward pass changes nothing."""
    E = Value(np.arange(12.0).reshape(4, 3))
    idx = np.array([0, 2])
    rows = E[idx]
    idx[:] = [1, 3]  # the caller reuses its buffer for the next batch
    rows.sum().backward()
    np.testing.assert_array_equal(E.grad.sum(axis=1), [3.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(rows.data, [[0, 1, 2], [6, 7, 8]])

    x, y = Value(np.ones(3)), Value(np.ones(3))
    mask = np.array([True, False, True])
    out = where(mask, x, y)
    mask[:] = False
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(y.grad, [0.0, 1.0, 0.0])

    lst = [1, 1]
    picked = E[lst, [0, 2]]
    lst[0] = 0
    picked.sum().backward()
    np.testing.assert_array_equal(E.grad[1], [1.0, 0.0, 1.0])  # row 1, as indexed at forward time


@pytest.mark.parametrize("reference", [False, True])
def test_concatenate_and_stack_cut_the_gradient_once_per_node(monkeypatch, reference):
    """Backward through an op of n inputs is linear in n: its split rule runs once
    per node (a rule per input, each handed all n inputs, made it quadratic:
    14-30 s for 16,000 inputs)."""
    from tinygrad_nn import ops, reference_mode
    from tinygrad_nn._fast import switch

    calls = []
    for op in (ops.CONCATENATE, ops.STACK):
        split = op.split

        def counting(*args, _split=split, _name=op.name, **params):
            calls.append(_name)
            return _split(*args, **params)

        monkeypatch.setattr(op, "split", counting)
    xs = [Value(np.full(2, float(i))) for i in range(300)]
    with reference_mode() if reference else switch.fast_mode():
        out = concatenate(xs).sum() + (stack(xs) * 2.0).sum()
        out.backward()
    assert sorted(calls) == ["concatenate", "stack"]
    for x in xs:
        np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_mean_over_an_axis_of_a_scalar_names_the_op():
    with pytest.raises(ValueError, match=r"^mean: axis 0 is out of bounds for array of dimension 0"):
        Value(1.0).mean(axis=0)
    with pytest.raises(ValueError, match=r"^mean: axis -3 is out of bounds"):
        Value(np.ones((2, 3))).mean(axis=-3)
