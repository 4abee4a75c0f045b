"""Module system, Dense, activations, the classic hand-derived updates, and training runs."""

import copy
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from tinygrad_nn import Value, autograd, nn, no_grad, optim


class Net(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.encoder = nn.Sequential(nn.Dense(4, 8, rng=rng), nn.Sigmoid(), nn.Dense(8, 3, rng=rng))
        self.scale = nn.Parameter(2.0)
        self.head = nn.Dense(3, 2, bias=False, rng=rng)
        self.note = "not registered"

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale)


# -- Module registration and traversal ------------------------------------------------------------


def test_named_parameters_use_dotted_names_in_assignment_order():
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["scale", "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                     "head.weight"]  # fmt: skip


def test_parameters_modules_and_counts():
    net = Net()
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert net.num_parameters() == 1 + (4 * 8 + 8) + (8 * 3 + 3) + 3 * 2
    assert [name for name, _ in net.named_modules()] == ["", "encoder", "encoder.0", "encoder.1", "encoder.2",
                                                         "head"]  # fmt: skip
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "Dense"]
    assert len(list(net.modules())) == 6
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Dense(3, 3, rng=0)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert model.num_parameters() == 12
    tied = nn.Sequential(nn.Dense(2, 2, rng=0), nn.Dense(2, 2, rng=1))
    tied[1].weight = tied[0].weight
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_reassigning_and_deleting_attributes_updates_the_registry():
    net = Net()
    net.head = None
    assert not any(n.startswith("head") for n, _ in net.named_parameters())
    net.head = nn.Dense(3, 2, rng=0)
    del net.scale
    assert [n for n, _ in net.named_parameters()][-2:] == ["head.weight", "head.bias"]
    assert "scale" not in dict(net.named_parameters())
    net.encoder = nn.Parameter(1.0)  # a module slot reused for a parameter
    assert "encoder" in dict(net.named_parameters()) and "encoder" not in dict(net.named_children())


def test_zero_grad_clears_every_parameter():
    net = Net()
    net(np.ones((2, 4))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_plain_containers_of_parameters_are_refused():
    class Bad(nn.Module):
        def __init__(self, items):
            super().__init__()
            self.items = items

    with pytest.raises(TypeError, match=r"Bad\.items: a plain list of Parameters .* nn\.ParameterList"):
        Bad([nn.Parameter(1.0)])
    with pytest.raises(TypeError, match=r"Bad\.items: a plain tuple of Modules .* nn\.ModuleList"):
        Bad((nn.Tanh(),))
    with pytest.raises(TypeError, match="dict of Modules"):
        Bad({"a": nn.Tanh()})
    assert Bad([1.0, 2.0]).items == [1.0, 2.0]  # lists of plain data are ordinary attributes


def test_forgetting_super_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(1.0)

    with pytest.raises(AttributeError, match=r"Forgot: .*call super\(\).__init__\(\) first"):
        Forgot()


def test_forward_must_be_implemented():
    with pytest.raises(NotImplementedError, match="Empty does not implement forward"):
        type("Empty", (nn.Module,), {})()(1.0)


def test_parameter_is_a_value():
    p = nn.Parameter(np.array([1.0, 2.0], dtype=np.float32))
    assert isinstance(p, Value) and p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert repr(p).startswith("Parameter(")
    q = nn.Parameter(Value(3.0))  # copies a Value's data
    assert q.data == 3.0 and type(q.data) is float
    (p * 2).sum().backward()
    np.testing.assert_array_equal(p.grad, [2.0, 2.0])



def test_parameter_is_a_marked_value_at_runtime():
    # Graphs must hold a single type (CPython caches attribute access per
    # exact type; see _ParameterType), so a Parameter's runtime type is Value.
    p = nn.Parameter(2.0)
    assert type(p) is Value and isinstance(p, nn.Parameter)
    assert not isinstance(Value(2.0), nn.Parameter)
    assert not isinstance(p * 1.0, nn.Parameter) and not isinstance(p.detach(), nn.Parameter)
    assert not isinstance(2.0, nn.Parameter)
    assert repr(copy.deepcopy(p)) == "Parameter(2.0)"

    class Tagged(nn.Parameter):  # a user's subclass stays an ordinary class
        pass

    t = Tagged(np.ones(2))
    assert type(t) is Tagged and isinstance(t, nn.Parameter) and isinstance(t, Tagged)
    assert not isinstance(p, Tagged)
    assert repr(t).startswith("Tagged(")
    m = nn.Module()
    m.t, m.p = t, p
    assert [name for name, _ in m.named_parameters()] == ["t", "p"]

def test_nested_repr():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (encoder): Sequential(\n"
        "    (0): Dense(in_features=4, out_features=8, bias=True)\n"
        "    (1): Sigmoid()\n"
        "    (2): Dense(in_features=8, out_features=3, bias=True)\n"
        "  )\n"
        "  (head): Dense(in_features=3, out_features=2, bias=False)\n"
        ")"
    )
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert (
        repr(nn.Dense(2, 3, dtype=np.float32))
        == "Dense(in_features=2, out_features=3, bias=True, dtype=float32)"
    )


# -- containers -------------------------------------------------------------------------------------


def test_sequential_is_indexable_iterable_and_sized():
    layers = [nn.Dense(2, 3, rng=0), nn.Tanh(), nn.Dense(3, 1, rng=1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head) == layers[1:]
    assert [n for n, _ in head.named_parameters()] == ["2.weight", "2.bias"]  # names are kept
    x = np.ones((5, 2))
    np.testing.assert_array_equal(model(x).data, head(layers[0](x)).data)
    model.append(nn.Sigmoid())
    assert len(model) == 4 and isinstance(model[3], nn.Sigmoid)
    with pytest.raises(IndexError, match="index 4 is out of range for length 4"):
        model[4]


def test_sequential_with_named_children():
    model = nn.Sequential({"hidden": nn.Dense(2, 3, rng=0), "act": nn.Tanh()})
    assert [n for n, _ in model.named_parameters()] == ["hidden.weight", "hidden.bias"]
    assert isinstance(model[1], nn.Tanh)
    with pytest.raises(ValueError, match=r"without '\.'"):
        nn.Sequential({"a.b": nn.Tanh()})


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential: argument 1 is a function, not a Module"):
        nn.Sequential(nn.Dense(2, 2), nn.functional.tanh)  # the function, not the nn.Tanh() module


def test_module_list_and_parameter_list():
    ml = nn.ModuleList([nn.Tanh(), nn.Dense(1, 1, rng=0)])
    assert len(ml) == 2 and [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    ml[0] = nn.ReLU()
    assert isinstance(ml[0], nn.ReLU)
    with pytest.raises(TypeError, match="ModuleList: item 2 is an int, not a Module"):
        ml.append(3)
    with pytest.raises(NotImplementedError):
        ml(1.0)
    pl = nn.ParameterList([1.0, np.zeros(2)])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    pl.append(nn.Parameter(5.0))
    assert pl[-1].data == 5.0 and [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    with pytest.raises(TypeError, match="not a Parameter"):
        pl.append(Value(1.0))
    assert repr(pl) == "ParameterList(length=3)"


# -- Dense -------------------------------------------------------------------------------------------


def test_dense_computes_x_w_plus_b():
    layer = nn.Dense(4, 3, rng=0)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,)
    layer.bias.data = np.array([0.1, -0.2, 0.3])
    x = np.random.default_rng(1).normal(size=(5, 4))
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data + layer.bias.data, rtol=1e-15)
    np.testing.assert_allclose(layer(x[0]).data, x[0] @ layer.weight.data + layer.bias.data, rtol=1e-15)
    assert layer([[1, 2, 3, 4]]).shape == (1, 3)  # lists and ints are fine
    no_bias = nn.Dense(4, 3, bias=False, rng=0)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(no_bias(x).data, x @ no_bias.weight.data)


@pytest.mark.parametrize("fused", [False, True])
def test_dense_records_only_what_needs_a_gradient(fused, fast_path):
    """Frozen parameters, a constant or recorded input, no_grad: the node's inputs follow."""
    model = nn.Sequential(nn.Dense(3, 2, rng=0), *([nn.Tanh()] if fused else []))
    layer = model[0]
    x = np.ones((4, 3))
    assert [p is not None for p in autograd.inputs(model(x))] == [False, True, True]
    h = Value(x)
    assert [p is not None for p in autograd.inputs(model(h))] == [True, True, True]
    layer.bias.requires_grad = False
    out = model(h)
    assert [p is not None for p in autograd.inputs(out)] == [True, True, False]
    out.sum().backward()
    assert layer.bias.grad is None and h.grad.shape == (4, 3) and layer.weight.grad.shape == (3, 2)
    layer.weight.requires_grad = False
    assert not model(x).requires_grad and model(h).requires_grad
    with no_grad():
        assert not model(h).requires_grad


def test_dense_default_init_is_xavier_uniform_with_zero_bias():
    layer = nn.Dense(30, 20, rng=0)
    bound = np.sqrt(6 / 50)
    assert np.all(np.abs(layer.weight.data) <= bound) and layer.weight.data.std() > bound / 3
    np.testing.assert_array_equal(layer.bias.data, np.zeros(20))
    np.testing.assert_array_equal(layer.weight.data, nn.init.xavier_uniform((30, 20), rng=0))


def test_dense_init_options():
    k = nn.Dense(6, 4, init="kaiming_normal", bias_init="ones", rng=3)
    np.testing.assert_array_equal(k.weight.data, nn.init.kaiming_normal((6, 4), rng=3))
    np.testing.assert_array_equal(k.bias.data, np.ones(4))
    c = nn.Dense(2, 2, init=lambda shape, rng, dtype: np.full(shape, 0.5, dtype))
    np.testing.assert_array_equal(c.weight.data, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        nn.Dense(2, 2, init="glorot")
    with pytest.raises(ValueError, match=r"Dense\(2 -> 2\): init returned shape \(3,\), expected \(2, 2\)"):
        nn.Dense(2, 2, init=lambda shape, rng, dtype: np.zeros(3))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="in_features must be a positive int"):
            nn.Dense(bad, 2)
    with pytest.raises(TypeError, match="floating type"):
        nn.Dense(2, 2, dtype=np.int64)


def test_dense_wrong_input_width_names_layer_and_shapes():
    layer = nn.Dense(4, 3)
    with pytest.raises(
        ValueError, match=r"^Dense\(4 -> 3\): input has shape \(8, 5\), expected \(\.\.\., 4\)$"
    ):
        layer(np.zeros((8, 5)))
    with pytest.raises(ValueError, match=r"Dense\(4 -> 3\): input has shape \(2, 7\)"):
        layer(Value(np.zeros((2, 7))))
    with pytest.raises(ValueError, match=r"input has shape \(\)"):
        layer(1.0)
    with pytest.raises(TypeError, match="must be numeric"):
        layer(np.array([["a"] * 4]))
    model = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(3, 1))
    with pytest.raises(
        ValueError, match=r"Dense\(3 -> 1\): input has shape \(1, 4\), expected \(\.\.\., 3\)"
    ):
        model(np.zeros((1, 2)))


def test_same_seed_same_network():
    def build(seed):
        rng = np.random.default_rng(seed)
        return nn.Sequential(nn.Dense(3, 5, rng=rng), nn.Tanh(), nn.Dense(5, 2, rng=rng))

    a, b, c = build(7).state_dict(), build(7).state_dict(), build(8).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.weight"], c["0.weight"])
    np.testing.assert_array_equal(nn.Dense(3, 2, rng=5).weight.data, nn.Dense(3, 2, rng=5).weight.data)


def test_float32_model_stays_float32():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(3, 4, rng=rng, dtype=np.float32), nn.Tanh(),
                          nn.Dense(4, 2, rng=rng, dtype=np.float32), nn.Softmax())  # fmt: skip
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = rng.normal(size=(5, 3))  # float64 data is cast to the layer's dtype
    for _ in range(2):
        out = model(x)
        loss = nn.mse_loss(out, np.eye(2)[[0, 1, 0, 1, 1]])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert out.dtype == np.float32 and loss.dtype == np.float32
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    assert all(v.dtype == np.float32 for v in model.state_dict().values())


def test_value_input_gets_a_gradient():
    layer = nn.Dense(2, 2, rng=0)
    x = Value(np.array([[1.0, -1.0]]))
    layer(x).sum().backward()
    np.testing.assert_allclose(x.grad, layer.weight.data.sum(axis=1, keepdims=True).T)


# -- activation modules -------------------------------------------------------------------------------


def test_activation_modules_match_functional_forms():
    x = np.random.default_rng(0).normal(size=(3, 4))
    F = nn.functional
    pairs = [
        (nn.Sigmoid(), F.sigmoid(x)),
        (nn.Tanh(), F.tanh(x)),
        (nn.ReLU(), F.relu(x)),
        (nn.LeakyReLU(0.3), F.leaky_relu(x, 0.3)),
        (nn.Softmax(axis=0), F.softmax(x, axis=0)),
        (nn.LogSoftmax(), F.log_softmax(x)),
        (nn.Softplus(), F.softplus(x)),
        (nn.Identity(), F.identity(x)),
    ]
    for module, want in pairs:
        np.testing.assert_array_equal(module(x).data, want.data)
    assert nn.Identity()(x).data.tolist() == x.tolist()
    assert list(nn.Tanh().parameters()) == []


# -- Sequential runs a Dense layer and its activation as one node ---------------------------------------


def _ops_down_the_first_input(v):
    """The op names from the output back to the input, following each node's first recorded input."""
    names = []
    while v.op is not None:
        names.append(v.op)
        inner = [p for p in v.inputs if p.op is not None]
        if not inner:
            break
        v = inner[0]
    return names


def _four_layers(rng, dtype=np.float64):
    gen = np.random.default_rng(rng)
    return nn.Sequential(
        nn.Dense(4, 5, rng=gen, dtype=dtype), nn.Sigmoid(),
        nn.Dense(5, 5, rng=gen, dtype=dtype), nn.Tanh(),
        nn.Dense(5, 4, rng=gen, dtype=dtype), nn.ReLU(),
        nn.Dense(4, 2, rng=gen, dtype=dtype),
    )  # fmt: skip


def test_sequential_fuses_each_dense_layer_with_the_activation_after_it(fast_path):
    x = np.random.default_rng(1).normal(size=(3, 4))
    out = _four_layers(0)(x)
    assert _ops_down_the_first_input(out) == ["linear", "linear_relu", "linear_tanh", "linear_sigmoid"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_sequential_gives_the_layer_by_layer_numbers_bit_for_bit(dtype, fast_path):
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(dtype)
    fused, stepwise = _four_layers(0, dtype), _four_layers(0, dtype)
    out = fused(x)
    h = Value(x, requires_grad=False)
    for m in stepwise:  # one module at a time: nothing fused
        h = m(h)
    assert h.op == "linear" and h.inputs[0].op == "relu"
    np.testing.assert_array_equal(out.data, h.data)
    assert out.dtype == dtype
    (out * out).sum().backward()
    (h * h).sum().backward()
    for (name, p), q in zip(fused.named_parameters(), stepwise.parameters(), strict=True):
        assert p.grad.dtype == dtype, name
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


def test_sequential_does_not_fuse_subclasses_or_a_layer_without_bias(fast_path):
    class Sharp(nn.Sigmoid):  # a subclass may compute something else: it runs on its own
        def forward(self, x):
            return super().forward(x * 2.0)

    class Shifted(nn.Dense):
        def forward(self, x):
            return super().forward(x) + 1.0

    x = np.ones((2, 3))
    model = nn.Sequential(nn.Dense(3, 2, rng=0), Sharp())
    assert model(x).op == "sigmoid"
    np.testing.assert_allclose(model(x).data, 1 / (1 + np.exp(-2 * model[0](x).data)))
    model = nn.Sequential(Shifted(3, 2, rng=0), nn.Tanh())
    out = model(x)
    assert out.op == "tanh"
    np.testing.assert_allclose(out.data, np.tanh(x @ model[0].weight.data + 1.0))
    model = nn.Sequential(nn.Dense(3, 2, bias=False, rng=0), nn.Sigmoid())
    out = model(x)
    assert out.op == "sigmoid"
    np.testing.assert_allclose(out.data, 1 / (1 + np.exp(-(x @ model[0].weight.data))))


def test_sequential_follows_changes_to_its_children(fast_path):
    x = np.random.default_rng(2).normal(size=(2, 3))
    model = nn.Sequential(nn.Dense(3, 2, rng=0), nn.Sigmoid())
    assert model(x).op == "linear_sigmoid"
    model[1] = nn.Tanh()
    np.testing.assert_array_equal(model(x).data, np.tanh(model[0](x).data))
    model.append(nn.ReLU())
    assert model(x).op == "relu"
    model[0].bias = None  # after the plan was made: the layer falls back to separate nodes
    np.testing.assert_array_equal(model(x).data, np.maximum(np.tanh(x @ model[0].weight.data), 0))


# -- the classic hand-derived updates ------------------------------------------------------------------


def sig(z):
    return 1 / (1 + np.exp(-z))


def test_one_sgd_step_on_the_2_3_1_sigmoid_net_without_biases():
    # E = ½ (O_k − t)², every unit a sigmoid, no thresholds.
    W_ij = np.array([[0.1, -0.4, 0.3], [0.6, 0.2, -0.5]])  # input i -> hidden j
    W_jk = np.array([[0.7], [-0.3], [0.2]])  # hidden j -> output k
    x, t, lr = np.array([0.35, 0.9]), np.array([0.5]), 0.8

    model = nn.Sequential(nn.Dense(2, 3, bias=False), nn.Sigmoid(), nn.Dense(3, 1, bias=False), nn.Sigmoid())
    model[0].weight.data, model[2].weight.data = W_ij.copy(), W_jk.copy()
    opt = optim.SGD(model.parameters(), lr=lr)
    loss = nn.sse_loss(model(x), t)
    opt.zero_grad()
    loss.backward()
    opt.step()

    # the classic derivation, unit by unit
    O_j = np.array([sig(sum(x[i] * W_ij[i, j] for i in range(2))) for j in range(3)])
    O_k = np.array([sig(sum(O_j[j] * W_jk[j, k] for j in range(3))) for k in range(1)])
    delta_k = (O_k - t) * O_k * (1 - O_k)
    delta_j = np.array(
        [O_j[j] * (1 - O_j[j]) * sum(delta_k[k] * W_jk[j, k] for k in range(1)) for j in range(3)]
    )
    new_W_jk = np.array([[W_jk[j, k] - lr * O_j[j] * delta_k[k] for k in range(1)] for j in range(3)])
    new_W_ij = np.array([[W_ij[i, j] - lr * x[i] * delta_j[j] for j in range(3)] for i in range(2)])

    assert loss.item() == pytest.approx(0.5 * ((O_k - t) ** 2).sum(), abs=1e-15)
    np.testing.assert_allclose(model[2].weight.data, new_W_jk, rtol=0, atol=1e-15)
    np.testing.assert_allclose(model[0].weight.data, new_W_ij, rtol=0, atol=1e-15)


class TanhLinear(nn.Module):
    """3-2-1: tanh hidden units, a linear output; keeps the pre-activations to read their δ."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Dense(3, 2)
        self.out = nn.Dense(2, 1)

    def forward(self, x):
        self.z_j = self.hidden(x)
        self.z_k = self.out(self.z_j.tanh())
        return self.z_k


def test_one_sgd_step_on_the_3_2_1_tanh_linear_net():
    W_ij = np.array([[0.2, -0.1], [0.4, 0.3], [-0.5, 0.6]])
    th_j = np.array([0.1, -0.2])
    W_jk = np.array([[0.8], [-0.6]])
    th_k = np.array([0.05])
    x, t, lr = np.array([1.0, -2.0, 0.5]), np.array([0.25]), 0.1

    net = TanhLinear()
    net.hidden.weight.data, net.hidden.bias.data = W_ij.copy(), th_j.copy()
    net.out.weight.data, net.out.bias.data = W_jk.copy(), th_k.copy()
    opt = optim.SGD(net.parameters(), lr=lr)
    loss = nn.sse_loss(net(x), t)
    opt.zero_grad()
    loss.backward()

    O_j = np.tanh(x @ W_ij + th_j)
    O_k = O_j @ W_jk + th_k  # linear output: g'(z) = 1
    delta_k = O_k - t
    delta_j = (1 - O_j**2) * (W_jk @ delta_k)
    # δ is the gradient on the pre-activation
    np.testing.assert_allclose(net.z_k.grad, delta_k, rtol=0, atol=1e-15)
    np.testing.assert_allclose(net.z_j.grad, delta_j, rtol=0, atol=1e-15)

    opt.step()
    np.testing.assert_allclose(net.out.weight.data, W_jk - lr * np.outer(O_j, delta_k), rtol=0, atol=1e-15)
    np.testing.assert_allclose(net.out.bias.data, th_k - lr * delta_k, rtol=0, atol=1e-15)
    np.testing.assert_allclose(net.hidden.weight.data, W_ij - lr * np.outer(x, delta_j), rtol=0, atol=1e-15)
    np.testing.assert_allclose(net.hidden.bias.data, th_j - lr * delta_j, rtol=0, atol=1e-15)


# -- training runs ---------------------------------------------------------------------------------------


def test_xor_2_4_1_reaches_100_percent():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    t = np.array([[0], [1], [1], [0]], dtype=float)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(2, 4, rng=rng), nn.Sigmoid(), nn.Dense(4, 1, rng=rng), nn.Sigmoid())
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(300):
        out = model(x)
        loss = nn.sse_loss(out, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    np.testing.assert_array_equal(out.data > 0.5, t > 0.5)


# Per-class means and standard deviations of the four iris measurements (cm).
IRIS_MEANS = np.array([[5.01, 3.43, 1.46, 0.25], [5.94, 2.77, 4.26, 1.33], [6.59, 2.97, 5.55, 2.03]])
IRIS_STDS = np.array([[0.35, 0.38, 0.17, 0.11], [0.52, 0.31, 0.47, 0.20], [0.64, 0.32, 0.55, 0.27]])


def iris_like(seed=0):
    """150 points, 4 features, 3 Gaussian classes with the iris statistics, standardized."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 50)
    x = IRIS_MEANS[y] + IRIS_STDS[y] * rng.normal(size=(150, 4))
    return (x - x.mean(axis=0)) / x.std(axis=0), y


def test_iris_sized_problem_with_the_issue_recipe(tmp_path):
    x, y = iris_like()
    t = np.eye(3)[y]
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Dense(4, 10, rng=rng), nn.Sigmoid(), nn.Dense(10, 3, rng=rng), nn.Sigmoid())
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # E sums over 150 examples: small lr
    for _ in range(300):
        out = model(x)
        loss = nn.sse_loss(out, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.mean(out.data.argmax(axis=1) == y) >= 0.95
    model.save(tmp_path / "iris.npz")
    copy = nn.Sequential(nn.Dense(4, 10), nn.Sigmoid(), nn.Dense(10, 3), nn.Sigmoid())
    copy.load(tmp_path / "iris.npz")
    np.testing.assert_array_equal(copy(x).data, model(x).data)


def test_iris_sized_problem_with_cross_entropy_and_adam():
    x, y = iris_like(1)
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Dense(4, 10, rng=rng), nn.Tanh(), nn.Dense(10, 3, rng=rng))
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        logits = model(x)
        loss = nn.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.mean(logits.data.argmax(axis=1) == y) >= 0.95


# -- the scalar (micrograd-style) network of examples/scalar_mlp.py ------------------------------------------


@pytest.fixture(scope="module")
def scalar_mlp():
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "scalar_mlp.py"
    spec = importlib.util.spec_from_file_location("scalar_mlp_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_scalar_mlp_names_every_weight(scalar_mlp):
    model = scalar_mlp.MLP(2, [4, 4, 1], rng=0)
    names = dict(model.named_parameters())
    assert "layers.0.neurons.3.w.1" in names and "layers.2.neurons.0.b" in names
    assert len(names) == model.num_parameters() == (2 * 4 + 4) + (4 * 4 + 4) + (4 + 1)
    assert all(type(p.data) is float for p in model.parameters())
    assert repr(model.layers[0].neurons[0]) == "Neuron(\n  2 inputs, tanh\n  (w): ParameterList(length=2)\n)"


def test_scalar_mlp_equals_the_dense_network(scalar_mlp):
    scalar = scalar_mlp.MLP(3, [4, 2], rng=0)
    dense = nn.Sequential(nn.Dense(3, 4), nn.Tanh(), nn.Dense(4, 2))
    for layer, d in zip(scalar.layers, (dense[0], dense[2]), strict=True):
        d.weight.data = np.array([[n.w[j].data for n in layer.neurons] for j in range(d.in_features)])
        d.bias.data = np.array([n.b.data for n in layer.neurons])
    x, t = np.array([0.5, -1.0, 2.0]), np.array([0.3, -0.7])
    out_s = scalar(x)
    out_d = dense(x)
    np.testing.assert_allclose([o.data for o in out_s], out_d.data, rtol=1e-14)
    nn.sse_loss(scalar_mlp.stack(out_s), t).backward()
    nn.sse_loss(out_d, t).backward()
    for layer, d in zip(scalar.layers, (dense[0], dense[2]), strict=True):
        grads = np.array([[n.w[j].grad for n in layer.neurons] for j in range(d.in_features)])
        np.testing.assert_allclose(grads, d.weight.grad, rtol=1e-12)
        np.testing.assert_allclose([n.b.grad for n in layer.neurons], d.bias.grad, rtol=1e-12)


def test_scalar_mlp_trains_and_round_trips(scalar_mlp, tmp_path):
    losses, accuracy = scalar_mlp.train(steps=12, n=24, seed=0, log_every=0)
    assert losses[-1] < 0.6 * losses[0] and accuracy >= 0.75
    model = scalar_mlp.MLP(2, [3, 1], rng=1)
    model.save(tmp_path / "scalar.npz")
    other = scalar_mlp.MLP(2, [3, 1], rng=2)
    other.load(tmp_path / "scalar.npz")
    assert [p.data for p in other.parameters()] == [p.data for p in model.parameters()]
    with pytest.raises(ValueError, match=r"Neuron\(2 inputs\): got 3 inputs"):
        model.layers[0].neurons[0]([1.0, 2.0, 3.0])


def test_calling_a_module_runs_forward_through_call_as_in_pytorch():
    """module(x) is Module.__call__ -> self.forward(x): a subclass's own __call__
    runs (also for a child class that only defines forward), and a forward
    assigned on an instance is the one that runs."""
    calls = []

    class Logged(nn.Module):
        def __call__(self, *args, **kwargs):
            calls.append(type(self).__name__)
            return super().__call__(*args, **kwargs)

    class Double(Logged):
        def forward(self, x):
            return x * 2.0

    assert Double()(Value(3.0)).data == 6.0 and calls == ["Double"]
    layer = nn.Dense(2, 1, rng=0)
    layer.forward = lambda x: Value(42.0)
    assert layer(np.ones((1, 2))).data == 42.0
    assert nn.Sequential(layer, nn.Sigmoid())(np.ones((1, 2))).data == pytest.approx(1 / (1 + np.exp(-42.0)))
