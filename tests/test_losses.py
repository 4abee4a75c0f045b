"""Losses and activation functions: values and gradients against their formulas, stability, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import Value, nn
from tinygrad_nn.nn import functional as F
from tinygrad_nn.testing import arrays

RNG = np.random.default_rng(42)
P = RNG.uniform(0.05, 0.95, (5, 3))
T = RNG.uniform(0.0, 1.0, (5, 3))


def grad_of(loss_fn, pred, *args, **kwargs):
    v = Value(pred)
    loss = loss_fn(v, *args, **kwargs)
    loss.backward()
    return loss, v.grad


def sigmoid(x):
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# -- sse / mse ---------------------------------------------------------------------------


def test_sse_sum_is_half_sum_of_squares_with_grad_o_minus_t():
    loss, g = grad_of(nn.sse_loss, P, T)
    assert loss.item() == pytest.approx(0.5 * np.sum((P - T) ** 2), rel=1e-14)
    np.testing.assert_allclose(g, P - T, rtol=1e-14)


def test_sse_mean_is_the_batch_mean_of_each_example_error():
    loss, g = grad_of(nn.sse_loss, P, T, reduction="mean")
    per_example = 0.5 * np.sum((P - T) ** 2, axis=1)
    assert loss.item() == pytest.approx(per_example.mean(), rel=1e-14)
    np.testing.assert_allclose(g, (P - T) / 5, rtol=1e-14)
    none = nn.sse_loss(Value(P), T, reduction="none")
    np.testing.assert_allclose(none.data, 0.5 * (P - T) ** 2)


def test_sse_on_scalars():
    o = Value(0.8)
    loss = nn.sse_loss(o, 1.0)
    loss.backward()
    assert type(loss.data) is float and loss.data == pytest.approx(0.5 * 0.04)
    assert o.grad == pytest.approx(-0.2)
    assert nn.sse_loss(Value(0.8), 1.0, reduction="mean").item() == pytest.approx(0.02)


def test_mse():
    loss, g = grad_of(nn.mse_loss, P, T)
    assert loss.item() == pytest.approx(np.mean((P - T) ** 2), rel=1e-14)
    np.testing.assert_allclose(g, 2 * (P - T) / P.size, rtol=1e-14)
    assert nn.mse_loss(P, T, reduction="sum").item() == pytest.approx(np.sum((P - T) ** 2))
    assert nn.mse_loss(P, T, reduction="none").shape == (5, 3)


def test_target_may_be_a_value_and_gets_a_gradient():
    o, t = Value(P), Value(T)
    nn.mse_loss(o, t).backward()
    np.testing.assert_allclose(t.grad, -o.grad)


def test_targets_as_lists_and_numbers():
    assert nn.mse_loss(Value([1.0, 2.0]), [1.0, 4.0]).item() == 2.0
    assert nn.sse_loss(Value(3.0), 1).item() == 2.0


# -- binary cross entropy -------------------------------------------------------------------


def test_bce_value_and_grad():
    loss, g = grad_of(nn.binary_cross_entropy, P, T)
    ref = -(T * np.log(P) + (1 - T) * np.log(1 - P))
    assert loss.item() == pytest.approx(ref.mean(), rel=1e-13)
    np.testing.assert_allclose(g, (P - T) / (P * (1 - P)) / P.size, rtol=1e-12)
    assert nn.binary_cross_entropy(P, T, reduction="sum").item() == pytest.approx(ref.sum(), rel=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_clamps_logs_at_minus_100(dtype):
    p = Value(np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype))
    t = np.array([1.0, 0.0, 0.0, 1.0])
    loss = nn.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0, 0.0, 0.0])
    assert loss.dtype == dtype
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad))


def test_bce_with_logits_value_and_grad():
    x = RNG.normal(0, 3, (4, 3))
    loss, g = grad_of(nn.binary_cross_entropy_with_logits, x, T[:4])
    p = sigmoid(x)
    ref = -(T[:4] * np.log(p) + (1 - T[:4]) * np.log(1 - p))
    assert loss.item() == pytest.approx(ref.mean(), rel=1e-12)
    np.testing.assert_allclose(g, (p - T[:4]) / x.size, rtol=1e-12)


def test_bce_with_logits_gradient_at_exactly_zero():
    # A composition of relu/abs has kinks at 0; the softplus form gives exactly σ(0) − t = 0.5 − t.
    x = Value(np.zeros(3))
    nn.binary_cross_entropy_with_logits(x, np.array([0.0, 0.5, 1.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [0.5, 0.0, -0.5])
    s = Value(0.0)
    nn.binary_cross_entropy_with_logits(s, 1.0).backward()
    assert s.grad == -0.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_extreme_logits(dtype):
    x = Value(np.array([1000.0, 1000.0, -1000.0, -1000.0], dtype=dtype))
    t = np.array([1.0, 0.0, 1.0, 0.0])
    loss = nn.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert loss.dtype == dtype
    np.testing.assert_array_equal(loss.data, [0.0, 1000.0, 1000.0, 0.0])
    loss.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, -1.0, 0.0])


# |x| <= 15 keeps 1 − σ(x) far enough from rounding for the probability form to be accurate.
@given(arrays((6,), min_value=-15, max_value=15), arrays((6,), min_value=0, max_value=1))
def test_bce_with_logits_equals_bce_of_sigmoid(x, t):
    a = nn.binary_cross_entropy_with_logits(Value(x), t).item()
    b = nn.binary_cross_entropy(F.sigmoid(x), t).item()
    assert a == pytest.approx(b, rel=1e-6, abs=1e-9)


# -- cross entropy ------------------------------------------------------------------------------


def log_softmax_ref(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_cross_entropy_with_labels():
    x = RNG.normal(0, 2, (6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    loss, g = grad_of(nn.cross_entropy, x, y)
    ref = -log_softmax_ref(x)[np.arange(6), y]
    assert loss.item() == pytest.approx(ref.mean(), rel=1e-13)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(g, (np.exp(log_softmax_ref(x)) - onehot) / 6, atol=1e-15)
    np.testing.assert_allclose(nn.cross_entropy(x, y, reduction="none").data, ref, rtol=1e-13)


def test_cross_entropy_labels_equal_one_hot_targets():
    x = RNG.normal(0, 2, (6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    l1, g1 = grad_of(nn.cross_entropy, x, y)
    l2, g2 = grad_of(nn.cross_entropy, x, np.eye(4)[y])
    assert l1.item() == pytest.approx(l2.item(), rel=1e-14)
    np.testing.assert_allclose(g1, g2, atol=1e-15)


def test_cross_entropy_with_probabilities():
    x = RNG.normal(0, 2, (3, 5))
    t = RNG.dirichlet(np.ones(5), size=3)
    loss, g = grad_of(nn.cross_entropy, x, t, reduction="sum")
    assert loss.item() == pytest.approx(-(t * log_softmax_ref(x)).sum(), rel=1e-13)
    np.testing.assert_allclose(g, np.exp(log_softmax_ref(x)) - t, atol=1e-14)  # rows of t sum to 1


def test_cross_entropy_single_example():
    x = np.array([1.0, 2.0, 0.5])
    loss = nn.cross_entropy(x, 1)
    assert loss.item() == pytest.approx(-log_softmax_ref(x)[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_extreme_logits(dtype):
    x = Value(np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=dtype))
    loss = nn.cross_entropy(x, np.array([1, 2]), reduction="none")
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.data, [2000.0, np.log(2.0)], rtol=1e-6)
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(x.grad, [[1.0, -1.0, 0.0], [0.0, 0.5, -0.5]], atol=1e-6)


@given(arrays((3, 4), min_value=-50, max_value=50), st.lists(st.integers(0, 3), min_size=3, max_size=3))
def test_cross_entropy_gradient_rows_sum_to_zero(x, y):
    v = Value(x)
    nn.cross_entropy(v, np.array(y)).backward()
    np.testing.assert_allclose(v.grad.sum(axis=1), 0.0, atol=1e-12)
    assert np.all(v.grad[np.arange(3), y] <= 0)


# -- dtype, shapes, bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss_fn", [nn.sse_loss, nn.mse_loss, nn.binary_cross_entropy, nn.binary_cross_entropy_with_logits]
)
def test_float32_prediction_gives_float32_loss(loss_fn):
    p = Value(P.astype(np.float32))
    loss = loss_fn(p, T)  # float64 target is cast to the prediction's dtype
    loss.backward()
    assert loss.dtype == np.float32 and p.grad.dtype == np.float32


@pytest.mark.parametrize(
    "loss_fn", [nn.sse_loss, nn.mse_loss, nn.binary_cross_entropy, nn.binary_cross_entropy_with_logits]
)
def test_shape_mismatch_is_an_error_not_a_broadcast(loss_fn):
    name = loss_fn.__name__
    with pytest.raises(
        ValueError, match=rf"{name}: prediction has shape \(4, 1\) but target has shape \(4,\)"
    ):
        loss_fn(Value(np.full((4, 1), 0.5)), np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(4, 1\) but target has shape \(4,\)"):
        loss_fn(Value(np.full((4, 1), 0.5)), Value(np.ones(4)))


@pytest.mark.parametrize(
    "loss_fn",
    [
        nn.sse_loss,
        nn.mse_loss,
        nn.binary_cross_entropy,
        nn.binary_cross_entropy_with_logits,
        nn.cross_entropy,
    ],
)
def test_bad_reduction(loss_fn):
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        loss_fn(Value(np.full((2, 2), 0.5)), np.zeros((2, 2)), reduction="avg")


def test_empty_batch_mean_is_an_error():
    with pytest.raises(ValueError, match="empty batch"):
        nn.mse_loss(Value(np.zeros((0, 3))), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty batch"):
        nn.sse_loss(Value(np.zeros((0, 3))), np.zeros((0, 3)), reduction="mean")
    assert nn.mse_loss(Value(np.zeros((0, 3))), np.zeros((0, 3)), reduction="sum").item() == 0.0


def test_bce_range_checks():
    with pytest.raises(
        ValueError, match=r"prediction \(probabilities\) must lie in \[0, 1\], got values from -0.5"
    ):
        nn.binary_cross_entropy(Value([-0.5, 0.5]), [0.0, 1.0])
    with pytest.raises(ValueError, match="nan included"):
        nn.binary_cross_entropy(Value([np.nan, 0.5]), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\]"):
        nn.binary_cross_entropy(Value([0.5, 0.5]), [0.0, 2.0])
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target must lie in \[0, 1\]"):
        nn.binary_cross_entropy_with_logits(Value([3.0, -3.0]), [-1.0, 1.0])


def test_cross_entropy_errors():
    x = Value(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"label 4 at position \(1,\) is out of range for 4 classes"):
        nn.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"label -1 at position \(2,\)"):
        nn.cross_entropy(x, np.array([0, 1, -1]))
    with pytest.raises(TypeError, match="class labels must be integers, got dtype float64"):
        nn.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target shape \(3, 2\) fits neither integer labels \(3,\)"):
        nn.cross_entropy(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\) or \(C,\)"):
        nn.cross_entropy(Value(np.zeros((2, 3, 4))), np.zeros((2, 3), dtype=int))
    with pytest.raises(TypeError, match="target must be numeric"):
        nn.cross_entropy(x, np.array(["a", "b", "c"]))


# -- activation functions and the softplus op ---------------------------------------------------------


def test_functional_activations_match_the_value_methods():
    x = RNG.normal(0, 2, (3, 4))
    v = Value(x)
    np.testing.assert_array_equal(F.sigmoid(x).data, v.sigmoid().data)
    np.testing.assert_array_equal(F.tanh(x).data, np.tanh(x))
    np.testing.assert_array_equal(F.relu(x).data, np.maximum(x, 0))
    np.testing.assert_array_equal(F.leaky_relu(x, 0.2).data, np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(F.softmax(x).data, np.exp(log_softmax_ref(x)), rtol=1e-14)
    np.testing.assert_allclose(F.log_softmax(x, axis=0).data, log_softmax_ref(x.T).T, rtol=1e-14)
    assert F.identity(v) is v
    assert F.sigmoid([0.0]).data[0] == 0.5 and not F.sigmoid(x).requires_grad
    with pytest.raises(TypeError, match="sigmoid:"):
        F.sigmoid("x")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_is_stable_and_its_gradient_is_sigmoid(dtype):
    x = Value(np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0], dtype=dtype))
    y = F.softplus(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, np.logaddexp(0, x.data.astype(np.float64)), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, sigmoid(x.data.astype(np.float64)), rtol=1e-6)
    assert x.grad[2] == 0.5
    np.testing.assert_allclose(F.log_sigmoid(x).data[:2], [-1000.0, -20.0], rtol=1e-6)


def test_softplus_on_scalars_and_second_derivative():
    a = Value(0.3)
    y = F.softplus(a)
    assert type(y.data) is float and y.data == pytest.approx(np.log1p(np.exp(0.3)))
    y.backward(create_graph=True)
    s = sigmoid(0.3)
    assert a.grad.item() == pytest.approx(s)
    first = a.grad
    a.grad = None
    first.backward()
    assert a.grad == pytest.approx(s * (1 - s))  # σ′ = σ(1 − σ)


def test_bce_gradient_is_pytorchs_where_the_log_is_clamped():
    # A saturated, wrong prediction (p = 0 for t = 1) still gets a gradient pulling it back:
    # (p − t) / max(p(1 − p), 1e-12), as PyTorch computes it.
    p = Value(np.array([0.0, 1.0, 0.3, 1e-300]))
    t = np.array([1.0, 0.0, 1.0, 1.0])
    nn.binary_cross_entropy(p, t, reduction="sum").backward()
    np.testing.assert_allclose(p.grad, [-1e12, 1e12, (0.3 - 1.0) / (0.3 * 0.7), -1e12], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_bce_is_finite_at_saturated_predictions_in_every_float_dtype(dtype):
    """p = t = 1 gives loss and gradient 0; a fully wrong p gives the clamped loss
    and a large finite gradient (float16 once gave nan and ±inf: 1e-12 is 0 there)."""
    p = Value(np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype))
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = nn.binary_cross_entropy(p, t, reduction="none")
    loss.sum().backward()
    assert loss.dtype == dtype and p.grad.dtype == dtype
    np.testing.assert_array_equal(loss.data, [0.0, 0.0, 100.0, 100.0])
    assert np.all(np.isfinite(p.grad)) and p.grad[0] == 0.0 and p.grad[1] == 0.0
    assert p.grad[2] > 1e4 and p.grad[3] < -1e4
