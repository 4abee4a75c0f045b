"""Optimizers against hand-computed updates (PyTorch's rules), state and bad input."""

import copy
import math

import numpy as np
import pytest

from tinygrad_nn import Value, nn, optim
from tinygrad_nn.checkpoint import CheckpointError

P0 = np.array([[0.5, -1.0], [2.0, 0.25]])
GRADS = [
    np.array([[0.1, -0.2], [0.3, 0.05]]),
    np.array([[-0.4, 0.1], [0.2, -0.3]]),
    np.array([[0.25, 0.5], [-0.1, 0.0]]),
]


def run(opt_factory, grads=GRADS, p0=P0):
    """Apply the optimizer with the given gradient sequence; return the parameter after each step."""
    p = Value(p0.copy())
    opt = opt_factory([p])
    history = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        history.append(np.array(p.data, copy=True))
    return history


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


# -- SGD -----------------------------------------------------------------------------


def test_sgd_plain():
    lr = 0.1
    got = run(lambda ps: optim.SGD(ps, lr=lr))
    p = P0.copy()
    for g, h in zip(GRADS, got, strict=True):
        p = p - lr * g
        close(h, p)


def test_sgd_momentum_hand_computed():
    lr, mu = 0.1, 0.9
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu))
    g1, g2, g3 = GRADS
    b1 = g1  # the buffer starts as the first gradient (no dampening)
    b2 = mu * b1 + g2
    b3 = mu * b2 + g3
    close(got[0], P0 - lr * b1)
    close(got[1], P0 - lr * b1 - lr * b2)
    close(got[2], P0 - lr * (b1 + b2 + b3))


def test_sgd_nesterov_hand_computed():
    lr, mu = 0.05, 0.8
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, nesterov=True))
    g1, g2, g3 = GRADS
    b1 = g1
    b2 = mu * b1 + g2
    b3 = mu * b2 + g3
    p1 = P0 - lr * (g1 + mu * b1)
    p2 = p1 - lr * (g2 + mu * b2)
    p3 = p2 - lr * (g3 + mu * b3)
    for h, want in zip(got, [p1, p2, p3], strict=True):
        close(h, want)


def test_sgd_weight_decay_and_momentum_hand_computed():
    lr, mu, wd = 0.1, 0.5, 0.01
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, weight_decay=wd))
    g1, g2, _ = GRADS
    d1 = g1 + wd * P0  # L2 term added to the gradient before the momentum buffer
    p1 = P0 - lr * d1
    d2 = g2 + wd * p1
    b2 = mu * d1 + d2
    p2 = p1 - lr * b2
    close(got[0], p1)
    close(got[1], p2)


def test_sgd_dampening():
    lr, mu, damp = 0.1, 0.9, 0.3
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, dampening=damp))
    g1, g2, _ = GRADS
    b2 = mu * g1 + (1 - damp) * g2  # the first step copies the gradient, undampened
    close(got[1], P0 - lr * g1 - lr * b2)


def test_sgd_scalar_parameter_by_hand():
    w = Value(1.0)
    opt = optim.SGD([w], lr=0.5, momentum=0.5)
    for g in (2.0, 2.0):
        w.grad = g
        opt.step()
    # buffers: 2, then 0.5*2 + 2 = 3; w = 1 - 0.5*2 - 0.5*3 = -1.5
    assert type(w.data) is float and w.data == -1.5


# -- Adam -------------------------------------------------------------------------------


def adam_reference(grads, p0, lr, b1, b2, eps, wd=0.0):
    """Adam written out from the algorithm box (PyTorch's variant)."""
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    out = []
    for t, g in enumerate(grads, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat_scale = lr / (1 - b1**t)
        denom = np.sqrt(v) / math.sqrt(1 - b2**t) + eps
        p = p - m_hat_scale * m / denom
        out.append(p)
    return out


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, m_hat = g and v_hat = g^2 after one step: the update is lr*g/(|g| + eps).
    lr, eps = 0.01, 1e-8
    got = run(lambda ps: optim.Adam(ps, lr=lr, eps=eps), grads=GRADS[:1])
    g = GRADS[0]
    close(got[0], P0 - lr * g / (np.abs(g) + eps))


def test_adam_matches_reference():
    got = run(lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6))
    want = adam_reference(GRADS, P0, 0.01, 0.8, 0.99, 1e-6)
    for h, w in zip(got, want, strict=True):
        close(h, w)


def test_adam_weight_decay_matches_reference():
    got = run(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1))
    want = adam_reference(GRADS, P0, 0.1, 0.9, 0.999, 1e-8, wd=0.1)
    for h, w in zip(got, want, strict=True):
        close(h, w)


def test_adam_scalar_second_step_by_hand():
    w = Value(0.0)
    opt = optim.Adam([w], lr=0.1, betas=(0.5, 0.5), eps=0.0)
    w.grad = 1.0
    opt.step()
    w.grad = 3.0
    opt.step()
    # m = 0.5*0.5 + 0.5*3 = 1.75, v = 0.5*0.5 + 0.5*9 = 4.75; corrections 0.75 and 0.75
    expected = -0.1 - (0.1 / 0.75) * 1.75 / (math.sqrt(4.75) / math.sqrt(0.75))
    assert type(w.data) is float
    assert abs(w.data - expected) < 1e-12


# -- shared behaviour ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps)])
def test_params_without_grad_are_skipped(make):
    a, b = Value(np.ones(2)), Value(np.ones(2))
    opt = make([a, b])
    a.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert not opt.state[1]  # no state was created for b
    assert not np.array_equal(a.data, np.ones(2))


def test_updates_are_in_place_and_keep_dtype():
    w = Value(np.ones(3, dtype=np.float32))
    data = w.data
    for opt in (optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01), optim.Adam([w], weight_decay=0.01)):
        for _ in range(2):
            w.grad = np.full(3, 0.5, dtype=np.float32)
            opt.step()
        assert w.data is data and w.data.dtype == np.float32
        buffers = [v for k, v in opt.state_dict().items() if k.startswith("state.") and v.ndim]
        assert buffers and all(v.dtype == np.float32 for v in buffers)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [lambda w: optim.SGD([w], lr=0.1, momentum=0.9), lambda w: optim.Adam([w])])
def test_large_parameters_update_in_slices_with_the_same_arithmetic(dtype, make):
    # Parameters larger than one slice are updated slice by slice (a small
    # temporary instead of a full-size one): the result must be bit-identical
    # to the one-shot p - scale * d, and the update stays in place.
    gen = np.random.default_rng(0)
    n = 3 * optim._SLICE + 123  # slices, plus a ragged end
    w = Value(gen.normal(size=(n // 3, 3)).astype(dtype))
    twin = Value(w.data.copy())
    opt, opt_twin = make(w), make(twin)
    data = w.data
    for _ in range(2):
        g = gen.normal(size=w.shape).astype(dtype)
        w.grad, twin.grad = g, g.copy()
        opt.step()
        scale, direction = opt_twin._update(twin, twin.grad, opt_twin.state[0])
        twin.data = twin.data - scale * direction
        np.testing.assert_array_equal(w.data, twin.data)
    assert w.data is data and w.data.dtype == dtype


def test_zero_grad():
    model = nn.Dense(2, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    nn.sse_loss(model(np.ones((1, 2))), np.zeros((1, 2))).backward()
    assert model.weight.grad is not None
    opt.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_accepts_module_and_generator():
    model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.Dense(3, 1, rng=1))
    assert len(optim.SGD(model, lr=0.1).params) == 4
    assert len(optim.Adam(model.parameters()).params) == 4


def test_grad_from_create_graph_backward():
    w = Value(np.array([1.0, 2.0]))
    (w * w).sum().backward(create_graph=True)
    optim.SGD([w], lr=0.5).step()
    np.testing.assert_allclose(w.data, [0.0, 0.0])


def test_grad_shape_mismatch():
    w = Value(np.ones(3))
    w.grad = np.ones(2)
    with pytest.raises(ValueError, match=r"params\[0\] has shape \(3,\) but its grad has shape \(2,\)"):
        optim.SGD([w], lr=0.1).step()


# -- state dicts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.9), weight_decay=0.001),
    ],
)
def test_state_dict_round_trip_continues_identically(make):
    grads = GRADS + GRADS
    p1 = Value(P0.copy())
    s = Value(1.0)
    opt1 = make([p1, s])
    for g in grads[:3]:
        p1.grad, s.grad = g.copy(), float(g[0, 0])
        opt1.step()
    state = opt1.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    p2, s2 = Value(np.array(p1.data)), Value(s.data)
    opt2 = make([p2, s2])
    opt2.load_state_dict(state)
    for g in grads[3:]:
        for p, q, opt in ((p1, s, opt1), (p2, s2, opt2)):
            p.grad, q.grad = g.copy(), float(g[0, 0])
            opt.step()
    np.testing.assert_array_equal(p1.data, p2.data)
    assert s.data == s2.data and type(s2.data) is float


def test_sgd_state_dict_contents():
    w = Value(np.zeros(2))
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = np.array([1.0, 2.0])
    opt.step()
    state = opt.state_dict()
    assert set(state) == {
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "nesterov",
        "num_params",
        "state.0.momentum_buffer",
    }
    assert int(state["num_params"]) == 1
    np.testing.assert_array_equal(state["state.0.momentum_buffer"], [1.0, 2.0])


def test_load_state_dict_validates_before_changing():
    w = Value(np.zeros(2))
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = np.ones(2)
    opt.step()
    good = opt.state_dict()
    bad = dict(good, lr=np.array(0.5), **{"state.0.momentum_buffer": np.zeros(3)})
    with pytest.raises(ValueError, match=r"shape mismatch for 'state\.0\.momentum_buffer': .*\(3,\).*\(2,\)"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.1
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], np.ones(2))
    with pytest.raises(ValueError, match="lr must be > 0"):
        opt.load_state_dict(dict(good, lr=np.array(-1.0)))
    assert opt.lr == 0.1
    with pytest.raises(
        ValueError, match=r"'state\.5\.momentum_buffer' is for parameter 5, but this optimizer has 1"
    ):
        opt.load_state_dict(dict(good, **{"state.5.momentum_buffer": np.zeros(2)}))
    with pytest.raises(ValueError, match="unexpected key 'extra'"):
        opt.load_state_dict(dict(good, extra=np.zeros(1)))
    with pytest.raises(ValueError, match=r"missing hyperparameters \['momentum'\]"):
        opt.load_state_dict({k: v for k, v in good.items() if k != "momentum"})


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_bad_lr(lr):
    w = Value(1.0)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([w], lr=lr)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([w], lr=lr)


def test_bad_hyperparameters():
    w = Value(1.0)
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        optim.SGD([w], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Nesterov momentum needs .* dampening = 0"):
        optim.SGD([w], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        optim.SGD([w], lr=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"betas must lie in \[0, 1\)"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas must be a pair"):
        optim.Adam([w], betas=(0.9,))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        optim.Adam([w], eps=-1e-8)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        optim.Adam([w], weight_decay=-0.1)


def test_bad_params():
    w = Value(np.ones(2))
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        optim.Adam(nn.Sequential().parameters())
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray, not a Value"):
        optim.SGD([w, np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="got a single Value"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="iterable of Values, got float"):
        optim.SGD(1.0, lr=0.1)
    with pytest.raises(ValueError, match=r"params\[0\] was computed by op 'mul'"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match=r"params\[1\] appears more than once"):
        optim.Adam([w, w])


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=1.0, momentum=0.9), lambda ps: optim.Adam(ps)])
def test_a_bad_gradient_changes_nothing(make):
    a, b = Value(np.zeros(2)), Value(np.zeros(3))
    opt = make([a, b])
    a.grad, b.grad = np.ones(2), np.ones(2)  # b's grad has the wrong shape
    with pytest.raises(ValueError, match=r"params\[1\] has shape \(3,\) but its grad has shape \(2,\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, [0.0, 0.0])
    assert all(not st for st in opt.state)


def test_a_float64_gradient_keeps_float32_state():
    f = Value(np.zeros(2, dtype=np.float32))
    f.grad = np.ones(2)  # float64, set by hand
    opt = optim.Adam([f])
    opt.step()
    assert f.data.dtype == np.float32 and opt.state[0]["exp_avg"].dtype == np.float32
    opt.load_state_dict(opt.state_dict())


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam])
def test_load_state_dict_refuses_a_state_for_another_number_of_parameters(make):
    a, b = Value(np.zeros(2)), Value(np.zeros(3))
    saved = make([a, b], lr=0.1).state_dict()  # before any step: hyperparameters only, and the count
    other = make([Value(np.zeros(2))], lr=0.5)
    with pytest.raises(CheckpointError, match=r"the state is for 2 parameters, this optimizer has 1"):
        other.load_state_dict(saved)
    assert other.lr == 0.5  # nothing changed


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps)])
@pytest.mark.parametrize("bad", ["read-only", "integer", "broadcast"])
def test_a_step_that_fails_on_a_later_parameter_changes_nothing(make, bad):
    first, later = Value(np.ones(3)), Value(np.ones(3))
    opt = make([first, later])
    first.grad, later.grad = np.ones(3), np.ones(3)
    opt.step()  # some state to keep
    before = (first.data.copy(), later.data.copy(), copy.deepcopy(opt.state))
    if bad == "read-only":
        later.data.flags.writeable = False
    elif bad == "integer":
        later.data = np.arange(3)
    else:
        later.data = np.broadcast_to(np.ones(1), (3,))
    first.grad, later.grad = np.ones(3), np.ones(3)
    with pytest.raises((TypeError, ValueError), match=r"step: params\[1\]"):
        opt.step()
    np.testing.assert_array_equal(first.data, before[0])
    for got, want in zip(opt.state, before[2], strict=True):
        assert got.keys() == want.keys()
        for k in got:
            np.testing.assert_array_equal(got[k], want[k])
