"""backprop: the closed-form δ rules against index-by-index formulas, autograd and nn.sse_loss."""

import numpy as np
import pytest

from tinygrad_nn import Value, backprop, nn, no_grad
from tinygrad_nn import value as value_module
from tinygrad_nn.testing import assert_grads_close

rng = np.random.default_rng(0)


def autograd_grads(model, x, t, reduction="sum"):
    model.zero_grad()
    nn.sse_loss(model(x), t, reduction=reduction).backward()
    return {name: p.grad for name, p in model.named_parameters()}


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_deltas_match_the_textbook_sums_element_by_element():
    """A 3 -> 2 sigmoid -> 2 sigmoid net, one example, with the notes' loops over j and k."""
    model = nn.Sequential(nn.Dense(3, 2, rng=1), nn.Sigmoid(), nn.Dense(2, 2, rng=2), nn.Sigmoid())
    model[0].bias.data[...] = [0.1, -0.2]
    model[2].bias.data[...] = [0.3, 0.05]
    x, t = np.array([[0.5, -1.0, 2.0]]), np.array([[1.0, 0.0]])
    W1, th1 = model[0].weight.data, model[0].bias.data
    W2, th2 = model[2].weight.data, model[2].bias.data
    O_j = [sigmoid(sum(x[0, i] * W1[i, j] for i in range(3)) + th1[j]) for j in range(2)]
    O_k = [sigmoid(sum(O_j[j] * W2[j, k] for j in range(2)) + th2[k]) for k in range(2)]
    delta_k = [(O_k[k] - t[0, k]) * O_k[k] * (1 - O_k[k]) for k in range(2)]
    delta_j = [O_j[j] * (1 - O_j[j]) * sum(delta_k[k] * W2[j, k] for k in range(2)) for j in range(2)]

    d_hidden, d_out = backprop.deltas(model, x, t)
    np.testing.assert_allclose(d_out, [delta_k], rtol=1e-14)
    np.testing.assert_allclose(d_hidden, [delta_j], rtol=1e-14)
    grads = backprop.gradients(model, x, t)
    assert list(grads) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for j in range(2):
        for k in range(2):
            assert grads["2.weight"][j, k] == pytest.approx(O_j[j] * delta_k[k], rel=1e-14)  # O_j δ_k
        for i in range(3):
            assert grads["0.weight"][i, j] == pytest.approx(x[0, i] * delta_j[j], rel=1e-14)
    np.testing.assert_allclose(grads["2.bias"], delta_k, rtol=1e-14)  # ∂E/∂θ_k = δ_k


@pytest.mark.parametrize("act", [nn.Sigmoid, nn.Tanh, nn.ReLU, nn.Identity, None])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradients_equal_autograd(act, reduction):
    mods = [nn.Dense(4, 5, rng=3), nn.Tanh(), nn.Dense(5, 3, rng=4, bias=False)]
    if act is not None:
        mods.append(act())
    model = nn.Sequential(*mods)
    x, t = rng.standard_normal((6, 4)), rng.uniform(size=(6, 3))
    expected = backprop.gradients(model, x, t, reduction)
    assert_grads_close(autograd_grads(model, x, t, reduction), expected, rtol=1e-12)


def test_mean_is_the_sum_over_the_batch_size_and_error_matches_sse_loss():
    model = nn.Sequential(nn.Dense(2, 3, rng=5), nn.Sigmoid(), nn.Dense(3, 1, rng=6))
    x, t = rng.standard_normal((5, 2)), rng.standard_normal((5, 1))
    total, mean = backprop.gradients(model, x, t), backprop.gradients(model, x, t, reduction="mean")
    assert_grads_close(mean, {k: v / 5 for k, v in total.items()}, rtol=1e-14)
    for reduction in ("sum", "mean"):
        e = nn.sse_loss(model(x), t, reduction=reduction).item()
        assert backprop.error(model, x, t, reduction) == pytest.approx(e, rel=1e-14)


def test_deltas_are_the_grads_on_the_pre_activations():
    model = nn.Sequential(nn.Dense(3, 4, rng=7), nn.Tanh(), nn.Dense(4, 2, rng=8), nn.Sigmoid())
    x, t = rng.standard_normal((3, 3)), rng.uniform(size=(3, 2))
    z1 = model[0](x)
    z2 = model[2](model[1](z1))
    nn.sse_loss(model[3](z2), t).backward()
    for z, d in zip((z1, z2), backprop.deltas(model, x, t), strict=True):
        assert_grads_close(z.grad, d, rtol=1e-12)


def test_forward_returns_z_and_O():
    model = nn.Sequential(nn.Dense(2, 3, rng=9), nn.ReLU(), nn.Dense(3, 1, rng=10))
    x = rng.standard_normal((4, 2))
    zs, Os = backprop.forward(model, x)
    assert len(zs) == 2 and len(Os) == 3 and Os[0] is not None
    np.testing.assert_allclose(Os[1], np.maximum(zs[0], 0))
    np.testing.assert_allclose(Os[2], model(x).data, rtol=1e-14)


def test_single_dense_nested_sequential_and_shared_layers():
    dense = nn.Dense(3, 3, rng=11)
    x, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    assert set(backprop.gradients(dense, x, t)) == {"weight", "bias"}
    assert_grads_close(autograd_grads(dense, x, t), backprop.gradients(dense, x, t), rtol=1e-12)

    nested = nn.Sequential(nn.Sequential(nn.Dense(3, 2, rng=12), nn.Tanh()), nn.Dense(2, 3, rng=13))
    assert list(backprop.gradients(nested, x, t)) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert_grads_close(autograd_grads(nested, x, t), backprop.gradients(nested, x, t), rtol=1e-12)

    shared = nn.Sequential(dense, nn.Tanh(), dense)  # the same weights used twice: contributions add
    assert_grads_close(autograd_grads(shared, x, t), backprop.gradients(shared, x, t), rtol=1e-12)


def test_identity_modules_and_values_as_data():
    model = nn.Sequential(nn.Identity(), nn.Dense(2, 2, rng=14), nn.Identity(), nn.Sigmoid(), nn.Identity())
    x, t = rng.standard_normal((3, 2)), rng.uniform(size=(3, 2))
    got = backprop.gradients(model, Value(x), Value(t, requires_grad=False))
    assert_grads_close(autograd_grads(model, x, t), got, rtol=1e-12)


def test_float32_stays_float32():
    model = nn.Sequential(nn.Dense(2, 2, rng=15, dtype=np.float32), nn.Sigmoid())
    x, t = rng.standard_normal((3, 2)), rng.uniform(size=(3, 2))
    assert all(d.dtype == np.float32 for d in backprop.deltas(model, x, t.astype(np.float32)))
    assert backprop.gradients(model, x, t)["0.weight"].dtype == np.float32
    assert_grads_close(autograd_grads(model, x, t), backprop.gradients(model, x, t), rtol=1e-5, atol=1e-7)


def test_independent_of_the_autograd_engine(monkeypatch):
    model = nn.Sequential(nn.Dense(2, 3, rng=16), nn.Tanh(), nn.Dense(3, 1, rng=17))
    x, t = rng.standard_normal((4, 2)), rng.standard_normal((4, 1))
    expected = autograd_grads(model, x, t)
    model.zero_grad()

    def no_engine(*args, **kwargs):
        raise AssertionError("backprop used a Value operation")

    monkeypatch.setattr(value_module, "apply", no_engine)
    with no_grad():
        got = backprop.gradients(model, x, t)
    assert_grads_close(got, expected, rtol=1e-12)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (nn.Sequential(nn.Dense(2, 2), nn.Softmax()), "module 1 is Softmax; only Dense layers"),
        (nn.Sequential(nn.Dense(2, 2), nn.LeakyReLU()), "module 1 is LeakyReLU"),
        (nn.Sequential(nn.Sigmoid(), nn.Dense(2, 2)), r"module 0 \(Sigmoid\) comes before any Dense"),
        (nn.Sequential(nn.Dense(2, 2), nn.Tanh(), nn.Sigmoid()), "follows another activation"),
        (nn.Sequential(nn.Tanh()), "comes before any Dense"),
        (nn.Sequential(), "no Dense layer"),
        (nn.Tanh(), "expected a Sequential of Dense layers"),
        (Value(1.0), "got Value"),
    ],
)
def test_unsupported_models(model, match):
    with pytest.raises(TypeError, match=match):
        backprop.gradients(model, np.ones((1, 2)), np.ones((1, 2)))


def test_bad_data():
    model = nn.Sequential(nn.Dense(4, 3), nn.Tanh())
    with pytest.raises(ValueError, match=r"x has shape \(8, 5\) but Dense\(4 -> 3\) expects \(\.\.\., 4\)"):
        backprop.deltas(model, np.ones((8, 5)), np.ones((8, 3)))
    with pytest.raises(ValueError, match=r"t has shape \(8, 2\) but the network's output O has shape"):
        backprop.deltas(model, np.ones((8, 4)), np.ones((8, 2)))
    with pytest.raises(ValueError, match="reduction must be 'sum' or 'mean', got 'none'"):
        backprop.gradients(model, np.ones((8, 4)), np.ones((8, 3)), reduction="none")
    with pytest.raises(TypeError, match="x must be numeric"):
        backprop.deltas(model, np.array([["a"] * 4]), np.ones((1, 3)))
    broken = nn.Sequential(nn.Dense(4, 3), nn.Dense(5, 2))
    with pytest.raises(ValueError, match=r"Dense\(5 -> 2\) expects 5 inputs but the layer before it gives 3"):
        backprop.deltas(broken, np.ones((1, 4)), np.ones((1, 2)))


def test_error_rejects_an_unknown_reduction():
    model = nn.Sequential(nn.Dense(2, 1, rng=0))
    with pytest.raises(ValueError, match="reduction must be 'sum' or 'mean', got 'mena'"):
        backprop.error(model, np.ones((3, 2)), np.zeros((3, 1)), "mena")
