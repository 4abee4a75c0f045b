"""tinygrad_nn.testing: strategies generate what they promise; assert_grads_close says where and how much."""

import itertools

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from tinygrad_nn import Value, nn
from tinygrad_nn.testing import (
    arrays,
    assert_grads_close,
    broadcastable_shapes,
    dense_networks,
    network_inputs,
    shapes,
    values,
)

# -- array strategies ---------------------------------------------------------------------


@given(shapes(min_dims=1, max_dims=2, min_side=2, max_side=3))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 2 and all(2 <= n <= 3 for n in shape)


@given(broadcastable_shapes(3, max_dims=2))
def test_broadcastable_shapes_broadcast(shapes_):
    assert len(shapes_) == 3
    np.broadcast_shapes(*shapes_)


@given(arrays((2, 3), min_value=-1, max_value=1, away_from_zero=0.25))
def test_arrays_respect_bounds(a):
    assert a.shape == (2, 3) and a.dtype == np.float64
    assert np.all(np.abs(a) <= 1) and np.all(np.abs(a) >= 0.25)


@given(values(shapes(max_dims=2), dtype=np.float32, requires_grad=False))
def test_values_keep_dtype_and_flag(v):
    assert isinstance(v, Value) and v.dtype == np.float32 and not v.requires_grad


# -- networks ------------------------------------------------------------------------------------


def dense_layers(model):
    return [m for m in model if isinstance(m, nn.Dense)]


@given(dense_networks())
def test_dense_networks_defaults(model):
    layers = dense_layers(model)
    assert isinstance(model, nn.Sequential) and 1 <= len(layers) <= 4
    sizes = [layers[0].in_features] + [d.out_features for d in layers]
    assert all(1 <= n <= 8 for n in sizes)
    for a, b in itertools.pairwise(layers):
        assert a.out_features == b.in_features
    for m in model:
        assert isinstance(m, (nn.Dense, nn.Sigmoid, nn.Tanh, nn.Identity))
    for p in model.parameters():
        assert p.dtype == np.float64 and np.all(np.abs(p.data) <= 2.0)


@given(dense_networks(depth=2, width=(3, 3), activations=("relu",), bias=False, max_weight=0.5))
def test_dense_networks_options(model):
    assert [type(m) for m in model] == [nn.Dense, nn.ReLU, nn.Dense, nn.ReLU]
    assert all(d.bias is None and d.weight.shape == (3, 3) for d in dense_layers(model))
    assert all(np.all(np.abs(p.data) <= 0.5) for p in model.parameters())


def test_dense_networks_draw_both_bias_settings():
    # bias=None draws per layer, so networks mixing both kinds exist.
    def mixed(model):
        return len({d.bias is None for d in dense_layers(model)}) == 2

    model = find(dense_networks(depth=2, activations=("none",)), mixed)
    assert len(model) == 2


@given(st.data())
def test_network_inputs_fit_the_model(data):
    model = data.draw(dense_networks())
    x, t = data.draw(network_inputs(model, batch=(2, 5)))
    layers = dense_layers(model)
    assert x.shape[0] == t.shape[0] and 2 <= x.shape[0] <= 5
    assert x.shape[1] == layers[0].in_features and t.shape[1] == layers[-1].out_features
    assert model(x).shape == t.shape


@given(network_inputs(nn.Dense(3, 2), batch=4))
def test_network_inputs_for_a_single_layer(xt):
    assert xt[0].shape == (4, 3) and xt[1].shape == (4, 2) and np.all(np.abs(xt[1]) <= 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 0}, "depth must be an int >= 1"),
        ({"width": (3, 2)}, "width must be"),
        ({"activations": ("softmax",)}, "activations must be a non-empty selection"),
        ({"activations": ()}, "activations must be a non-empty selection"),
        ({"max_weight": -1.0}, "max_weight must be"),
    ],
)
def test_dense_networks_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dense_networks(**kwargs)


def test_network_inputs_bad_arguments():
    with pytest.raises(ValueError, match="has no Dense layer"):
        network_inputs(nn.Sequential(nn.Tanh()))
    with pytest.raises(ValueError, match="batch must be"):
        network_inputs(nn.Dense(2, 2), batch=0)


# -- assert_grads_close -----------------------------------------------------------------------------


def test_close_gradients_pass_in_every_form():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert_grads_close(a, a + 1e-12)
    assert_grads_close(Value(a), a)
    assert_grads_close(2.0, np.float64(2.0))
    assert_grads_close([a, 1.0], [a, 1.0])
    assert_grads_close({"w": a, "b": 0.5}, {"b": 0.5, "w": a})
    assert_grads_close(a, a * 1.01, rtol=0.02)
    assert_grads_close(0.0, 1e-9, atol=1e-8)


def test_failure_names_the_worst_element_with_both_values_and_errors():
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    actual = expected.copy()
    actual[0, 1] += 1e-3
    actual[1, 2] += 0.5  # the worst
    with pytest.raises(AssertionError) as info:
        assert_grads_close(actual, expected, rtol=1e-6, atol=0.0)
    msg = str(info.value)
    assert "at [1, 2]" in msg and "actual=6.5" in msg and "expected=6.0" in msg
    assert "abs err=0.5" in msg and "rel err=0.0833" in msg and "2 of 6 elements" in msg
    assert "rtol=1e-06" in msg


def test_failure_in_a_dict_names_each_bad_parameter():
    good = {"0.weight": np.ones((2, 2)), "0.bias": np.zeros(2), "2.weight": np.ones(2)}
    bad = {**good, "0.bias": np.array([0.0, 1e-3]), "2.weight": np.array([1.0, 3.0])}
    with pytest.raises(AssertionError) as info:
        assert_grads_close(bad, good)
    msg = str(info.value)
    assert "2 of 3 entries" in msg and "'0.weight'" not in msg
    assert "'0.bias' at [1]: actual=0.001, expected=0.0" in msg and "rel err=inf" in msg
    assert "'2.weight' at [1]: actual=3.0, expected=1.0, abs err=2" in msg


@pytest.mark.parametrize(
    ("actual", "expected", "match"),
    [
        ({"w": 1.0}, {"w": 1.0, "b": 2.0}, r"missing from actual \[\"'b'\"\]"),
        ({"w": 1.0, "x": 1.0}, {"w": 1.0}, r"not expected \[\"'x'\"\]"),
        ({"w": None}, {"w": 1.0}, "actual 'w' is None"),
        ([None, 1.0], [np.ones(2), 1.0], r"actual \[0\] is None"),
        (np.ones(3), np.ones((3, 1)), r"actual has shape \(3,\), expected \(3, 1\)"),
        (np.array([1.0, np.nan]), np.array([1.0, np.nan]), r"at \[1\]: actual=nan"),
        (np.inf, np.inf, "actual=inf"),
        (np.array(["a"]), np.ones(1), "actual is not numeric"),
    ],
)
def test_mismatches(actual, expected, match):
    with pytest.raises(AssertionError, match=match):
        assert_grads_close(actual, expected)
