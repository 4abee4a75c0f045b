"""Higher-order autodiff: double backprop, grad / jacobian / hessian / hvp."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import GradcheckError, Value, autograd, grad, gradgradcheck, hessian, hvp, jacobian

points = st.floats(-3, 3, allow_nan=False)


def second(f, x):
    return grad(grad(f))(x).item()


@given(points)
def test_closed_form_second_derivatives(x):
    t = math.tanh(x)
    assert second(lambda v: v.tanh(), x) == pytest.approx(-2 * t * (1 - t * t), abs=1e-12)
    s = 1 / (1 + math.exp(-x))
    assert second(lambda v: v.sigmoid(), x) == pytest.approx(s * (1 - s) * (1 - 2 * s), abs=1e-12)
    assert second(lambda v: v**3, x) == pytest.approx(6 * x, abs=1e-12)
    assert second(lambda v: v.exp(), x) == pytest.approx(math.exp(x), rel=1e-12)
    y = abs(x) + 0.1
    assert second(lambda v: v.log(), y) == pytest.approx(-1 / y**2, rel=1e-12)


def test_third_derivative_composes():
    assert grad(grad(grad(lambda v: v**3)))(2.0).item() == pytest.approx(6.0)
    assert grad(grad(grad(lambda v: v.exp())))(0.5).item() == pytest.approx(math.exp(0.5))


def test_backward_create_graph_then_again_accumulates_like_pytorch():
    x = Value(3.0)
    (x**3).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.item() == 27.0
    first = x.grad
    first.backward()  # d(3x²)/dx = 6x = 18 lands on top of 27
    assert x.grad == 45.0


def test_quadratic_form_hessian_and_hvp():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((4, 4))
    A = M + M.T
    x0 = rng.standard_normal(4)
    v = rng.standard_normal(4)

    def q(x):
        return 0.5 * (x @ (A @ x))

    np.testing.assert_allclose(hessian(q)(x0).data, A, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hvp(q, x0, v).data, A @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad(q)(x0).data, A @ x0, rtol=1e-12)
    B = rng.standard_normal((4, 4))  # not symmetric: the Hessian is the symmetric part
    np.testing.assert_allclose(hessian(lambda x: 0.5 * (x @ (B @ x)))(x0).data, (B + B.T) / 2, atol=1e-12)


def test_shapes_follow_jax():
    x = np.ones((2, 3))
    assert jacobian(lambda v: v.sum(axis=1).tanh())(x).shape == (2, 2, 3)
    assert hessian(lambda v: (v**3).sum())(x).shape == (2, 3, 2, 3)
    assert hvp(lambda v: (v**3).sum(), x, np.ones((2, 3))).shape == (2, 3)
    assert jacobian(lambda v: v.exp())(1.0).shape == ()


def test_jacobian_of_elementwise_is_diagonal():
    x = np.array([0.1, -0.4, 2.0])
    J = jacobian(lambda v: v.sigmoid())(x).data
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(J, np.diag(s * (1 - s)), rtol=1e-12, atol=1e-15)


def _mlp_loss(theta):
    """A 2-3-1 tanh/sigmoid net's squared error, as a function of all 13 parameters."""
    X = np.array([[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8], [0.0, 0.2]])
    t = np.array([[1.0], [0.0], [1.0], [0.0]])
    W1 = theta[0:6].reshape(2, 3)
    b1 = theta[6:9]
    W2 = theta[9:12].reshape(3, 1)
    b2 = theta[12:13]
    out = ((X @ W1 + b1).tanh() @ W2 + b2).sigmoid()
    return 0.5 * ((out - t) ** 2).sum()


def test_mlp_hessian_matches_finite_differences_of_the_gradient():
    theta = np.random.default_rng(1).standard_normal(13)
    H = hessian(_mlp_loss)(theta).data
    g = lambda th: grad(_mlp_loss)(th).data
    eps = 1e-6
    H_fd = np.empty((13, 13))
    for j in range(13):
        e = np.zeros(13)
        e[j] = eps
        H_fd[:, j] = (g(theta + e) - g(theta - e)) / (2 * eps)
    np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    v = np.random.default_rng(2).standard_normal(13)
    np.testing.assert_allclose(hvp(_mlp_loss, theta, v).data, H @ v, rtol=1e-10, atol=1e-12)


def test_grad_with_several_argnums():
    f = lambda x, y: (x * y**2).sum()
    gx, gy = grad(f, argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_allclose(gx.data, [9.0, 16.0])
    np.testing.assert_allclose(gy.data, [6.0, 16.0])
    np.testing.assert_allclose(grad(f, argnums=-1)(np.array([1.0]), np.array([2.0])).data, [4.0])


def test_functional_grad_leaves_dot_grad_alone():
    x = Value(np.array([1.0, 2.0]))
    y = (x * x).sum()
    (gx,) = autograd.grad(y, [x])
    np.testing.assert_allclose(gx, [2.0, 4.0])
    assert x.grad is None
    unused = Value(1.0)
    assert autograd.grad(y, [unused]) == [0.0]


def test_constant_function_has_zero_derivatives():
    assert grad(lambda v: Value(2.0, requires_grad=False))(1.0).item() == 0.0
    np.testing.assert_array_equal(hvp(lambda v: v.sum(), np.ones(3), np.ones(3)).data, np.zeros(3))


def test_transform_errors():
    with pytest.raises(ValueError, match="grad: f must return a single-element Value"):
        grad(lambda v: v * 2)(np.ones(3))
    with pytest.raises(ValueError, match=r"hvp: v has shape \(2,\) but x has shape \(3,\)"):
        hvp(lambda v: v.sum(), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="grad: argnums 3 is out of range"):
        grad(lambda v: v, argnums=3)(1.0)
    with pytest.raises(TypeError, match="grad: inputs must be Values"):
        autograd.grad(Value(1.0) * 2, [1.0])


def test_gradgradcheck_passes_on_correct_second_derivatives():
    rng = np.random.default_rng(3)
    assert gradgradcheck(
        lambda x, w: (x @ w).tanh(), [rng.standard_normal((3, 2)), rng.standard_normal((2, 4))]
    )
    assert gradgradcheck(_mlp_loss, [rng.standard_normal(13)])


def test_gradgradcheck_catches_a_wrong_second_derivative():
    # x * x.detach() * x has the right value but a gradient that treats one factor as constant,
    # so the first derivative (and hence the second) is wrong where |x| is large.
    report = gradgradcheck(
        lambda x: (x * x.detach() * x).sum(), [np.array([0.3, -1.2, 2.0])], raise_exception=False
    )
    assert not report
    assert report[0].worst_index == (2,)
    with pytest.raises(GradcheckError):
        gradgradcheck(lambda x: (x * x.detach() * x).sum(), [np.array([0.3, -1.2, 2.0])])
    with pytest.raises(ValueError, match="gradgradcheck: no input requires grad"):
        gradgradcheck(lambda x: x.sum(), [Value(np.ones(2), requires_grad=False)])
