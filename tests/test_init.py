"""nn.init: shapes, dtypes, scales, seeds and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn.nn import init

RANDOM = [
    init.uniform,
    init.normal,
    init.xavier_uniform,
    init.xavier_normal,
    init.kaiming_uniform,
    init.kaiming_normal,
]


@pytest.mark.parametrize("fn", RANDOM)
def test_same_seed_same_values(fn):
    a = fn((4, 3), rng=7)
    b = fn((4, 3), rng=np.random.default_rng(7))
    c = fn((4, 3), rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fn", RANDOM)
def test_dtype_and_shape(fn):
    a64 = fn((5, 2), rng=0)
    a32 = fn((5, 2), rng=0, dtype=np.float32)
    assert a64.shape == a32.shape == (5, 2)
    assert a64.dtype == np.float64 and a32.dtype == np.float32
    np.testing.assert_array_equal(a32, a64.astype(np.float32))  # same draw, rounded


def test_shared_generator_advances():
    rng = np.random.default_rng(0)
    assert not np.array_equal(init.normal(3, rng=rng), init.normal(3, rng=rng))


def test_deterministic_initializers():
    np.testing.assert_array_equal(init.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones(4, dtype=np.float32), np.ones(4, dtype=np.float32))
    np.testing.assert_array_equal(init.constant((2,), 0.5), [0.5, 0.5])
    assert init.zeros((), rng=3).shape == ()  # rng accepted (and ignored) by every initializer


def test_fans_follow_the_in_out_layout():
    assert init.fans((3, 7)) == (3, 7)
    assert init.fans(5) == (5, 5)
    with pytest.raises(ValueError, match=r"1-d \(n,\) and 2-d \(in, out\)"):
        init.fans((2, 3, 4))
    with pytest.raises(ValueError, match="1-d"):
        init.fans(())


@given(fan_in=st.integers(1, 50), fan_out=st.integers(1, 50), gain=st.floats(0.1, 3.0))
def test_uniform_bounds(fan_in, fan_out, gain):
    w = init.xavier_uniform((fan_in, fan_out), gain=gain, rng=0)
    assert np.all(np.abs(w) <= gain * math.sqrt(6 / (fan_in + fan_out)))
    k = init.kaiming_uniform((fan_in, fan_out), gain=gain, rng=0)
    assert np.all(np.abs(k) <= gain * math.sqrt(3 / fan_in))
    k_out = init.kaiming_uniform((fan_in, fan_out), gain=gain, mode="fan_out", rng=0)
    assert np.all(np.abs(k_out) <= gain * math.sqrt(3 / fan_out))


@pytest.mark.parametrize(
    ("fn", "shape", "std"),
    [
        (init.xavier_uniform, (300, 500), math.sqrt(2 / 800)),  # var of U(-a, a) = a²/3
        (init.xavier_normal, (300, 500), math.sqrt(2 / 800)),
        (init.kaiming_uniform, (400, 300), math.sqrt(2 / 400)),
        (init.kaiming_normal, (400, 300), math.sqrt(2 / 400)),
        (init.normal, (200, 300), 1.0),
        (init.uniform, (200, 300), math.sqrt(1 / 12)),
    ],
)
def test_standard_deviations(fn, shape, std):
    # 10^5 draws with a fixed seed: the sample std is within 1% of the target.
    w = fn(shape, rng=1)
    assert abs(w.std() / std - 1) < 0.01


def test_uniform_and_normal_parameters():
    u = init.uniform((1000,), -2.0, -1.0, rng=0)
    assert u.min() >= -2.0 and u.max() < -1.0
    n = init.normal((20000,), mean=5.0, std=0.1, rng=0)
    assert abs(n.mean() - 5.0) < 0.01


def test_calculate_gain():
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_bad_input():
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator, an int seed or None"):
        init.normal(3, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="rng must be"):
        init.normal(3, rng=True)
    with pytest.raises(ValueError, match="non-negative"):
        init.normal(3, rng=-1)
    with pytest.raises(TypeError, match="floating type"):
        init.normal(3, dtype=np.int32)
    with pytest.raises(TypeError, match="shape must be an int or a sequence of ints"):
        init.zeros("34")
    with pytest.raises(ValueError, match="negative dimension"):
        init.zeros((2, -1))
    with pytest.raises(ValueError, match="low <= high"):
        init.uniform(3, 1.0, 0.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal(3, std=-1.0)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal((2, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="fan_in is 0"):
        init.kaiming_uniform((0, 3))
