"""nn.ACTIVATIONS and nn.make_activation (names to modules) and nn.mlp (a stack of Dense layers).

The hand-built stacks below are the code that mlp replaced (in the train and
gradcheck commands and the benchmarks): for the same seed, mlp must draw the
same weights in the same order.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn import nn, testing
from tinygrad_nn.nn import activations
from tinygrad_nn.train import ACTIVATIONS as TRAIN_ACTIVATIONS
from tinygrad_nn.train import build_model

ROOT = Path(__file__).resolve().parent.parent
cli_gradcheck = importlib.import_module("tinygrad_nn.cli.gradcheck")


def _same_network(a: nn.Module, b: nn.Module) -> None:
    assert repr(a) == repr(b)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert list(pa) == list(pb)
    for name in pa:
        assert pa[name].data.dtype == pb[name].data.dtype, name
        assert np.array_equal(pa[name].data, pb[name].data), name


# -- the table -------------------------------------------------------------------------------------------


def test_every_activation_module_is_in_the_table_under_its_function_name():
    modules = {cls for cls in vars(activations).values() if isinstance(cls, type) and cls is not nn.Module}
    modules = {cls for cls in modules if issubclass(cls, nn.Module)}
    assert set(nn.ACTIVATIONS.values()) == modules
    x = np.linspace(-2.0, 2.0, 6).reshape(2, 3)
    for name, cls in nn.ACTIVATIONS.items():
        function = getattr(activations, name)  # the function the module computes
        np.testing.assert_array_equal(cls()(x).data, function(x).data)


def test_make_activation_returns_a_new_module_per_call():
    a, b = nn.make_activation("tanh"), nn.make_activation("tanh")
    assert type(a) is nn.Tanh and a is not b
    assert repr(nn.make_activation("leaky_relu")) == "LeakyReLU(negative_slope=0.01)"


@pytest.mark.parametrize("name", ["Tanh", "gelu", "", None, 3])
def test_an_unknown_activation_name_is_a_value_error_naming_the_valid_ones(name):
    valid = "choose one of sigmoid, tanh, relu, leaky_relu, softplus, softmax, log_softmax, identity"
    with pytest.raises(ValueError, match=f"unknown activation .*; {valid}$"):
        nn.make_activation(name)


def test_the_names_offered_elsewhere_are_in_the_table():
    assert set(TRAIN_ACTIVATIONS) <= set(nn.ACTIVATIONS)
    assert set(cli_gradcheck.ACTIVATIONS) <= set(nn.ACTIVATIONS)
    assert set(testing.ACTIVATIONS) - {"none"} <= set(nn.ACTIVATIONS)


# -- mlp ---------------------------------------------------------------------------------------------------


def test_mlp_layers_names_and_shapes():
    model = nn.mlp([4, 10, 8, 3], "relu", "sigmoid", rng=0)
    assert [type(m).__name__ for m in model] == ["Dense", "ReLU", "Dense", "ReLU", "Dense", "Sigmoid"]
    assert model(np.ones((5, 4))).shape == (5, 3)
    assert [type(m).__name__ for m in nn.mlp((2, 1), "tanh")] == ["Dense"]  # no hidden layer, linear output
    linear = nn.mlp([3, 4, 2], None, None, rng=0)
    assert [type(m).__name__ for m in linear] == ["Dense", "Dense"]
    assert [type(m).__name__ for m in nn.mlp([3, 4, 2], "identity", "identity")] == [
        "Dense", "Identity", "Dense", "Identity",
    ]  # fmt: skip


def test_mlp_initializes_by_activation_unless_told():
    gen = np.random.default_rng(0)
    want = [
        nn.Dense(3, 5, init="kaiming_uniform", rng=gen),
        nn.Dense(5, 2, init="xavier_uniform", rng=gen),
    ]
    model = nn.mlp([3, 5, 2], "relu", None, rng=0)
    for layer, expected in zip(model[::2], want, strict=True):
        np.testing.assert_array_equal(layer.weight.data, expected.weight.data)
        np.testing.assert_array_equal(layer.bias.data, np.zeros(layer.out_features))
    ones = nn.mlp([3, 5, 2], "relu", init="ones", rng=0)
    assert all(np.all(layer.weight.data == 1.0) for layer in ones[::2])


def test_mlp_dtype_and_generator():
    model = nn.mlp([3, 4, 2], "tanh", rng=np.random.default_rng(7), dtype=np.float32)
    assert {p.data.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    _same_network(model, nn.mlp([3, 4, 2], "tanh", rng=7, dtype=np.float32))


@pytest.mark.parametrize("sizes", [[], [4]])
def test_mlp_needs_an_input_and_an_output_width(sizes):
    with pytest.raises(ValueError, match="at least an input and an output width"):
        nn.mlp(sizes)


def test_an_unknown_name_fails_before_any_weight_is_drawn():
    gen = np.random.default_rng(0)
    state = gen.bit_generator.state
    for kwargs in ({"activation": "swish"}, {"output": "softmaxx"}):
        with pytest.raises(ValueError, match="choose one of"):
            nn.mlp([2, 3, 1], rng=gen, **kwargs)
    assert gen.bit_generator.state == state


# -- the same weights as the stacks it replaced -----------------------------------------------------------


def _old_build_model(n_in, n_out, hidden, activation, output, seed):
    """tinygrad_nn/train.py's build_model before nn.mlp."""
    gen = np.random.default_rng(seed)
    act = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    init = "kaiming_uniform" if activation == "relu" else "xavier_uniform"
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Dense(width, h, init=init, rng=gen), act()]
        width = h
    layers.append(nn.Dense(width, n_out, rng=gen))
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def _old_cli_network(sizes, hidden, output, seed):
    """The gradcheck command's network before nn.mlp: "identity" adds no module."""
    rng = np.random.default_rng(seed)
    modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Dense(sizes[i], sizes[i + 1], rng=rng))
        act = output if i == len(sizes) - 2 else hidden
        if act != "identity":
            layers.append(modules[act]())
    return nn.Sequential(*layers)


def _old_benchmark_network(sizes, acts, dtype, seed):
    """benchmarks/workloads.py's build_ours before nn.mlp: one activation per layer, or "linear"."""
    gen = np.random.default_rng(seed)
    modules = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts, strict=True):
        modules.append(nn.Dense(n_in, n_out, rng=gen, dtype=dtype))
        if act == "sigmoid":
            modules.append(nn.Sigmoid())
        elif act == "tanh":
            modules.append(nn.Tanh())
    return nn.Sequential(*modules)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", [None, "sigmoid"])
@pytest.mark.parametrize("hidden", [(), (6,), (8, 5)])
def test_build_model_draws_the_weights_it_drew_before(activation, output, hidden):
    _same_network(
        build_model(4, 3, hidden, activation, output, rng=11),
        _old_build_model(4, 3, hidden, activation, output, 11),
    )


@pytest.mark.parametrize(
    ("sizes", "hidden", "output"),
    [([4, 10, 3], "tanh", "tanh"), ([3, 5, 4, 2], "relu", "identity"), ([2, 2], "sigmoid", "sigmoid"),
     ([4, 6, 3], "identity", "sigmoid")],
)  # fmt: skip
def test_the_gradcheck_command_draws_the_network_it_drew_before(sizes, hidden, output):
    rng = np.random.default_rng(5)
    _same_network(
        cli_gradcheck._build_network(sizes, hidden, output, rng),
        _old_cli_network(sizes, hidden, output, 5),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_benchmark_networks_are_the_ones_built_before(dtype, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    workloads = importlib.import_module("benchmarks.workloads")
    for spec in workloads.MLP_SPECS.values():
        model, _ = workloads.build_ours(spec, dtype, seed=3)
        _same_network(model, _old_benchmark_network(spec.sizes, spec.activations, dtype, 3))
