"""The fast path and the reference path give the same bits.

Each case is built and differentiated twice from the same arrays: once with
the fast path installed (the default runtime) and once inside
``reference_mode()`` (``value.py``'s ``apply``, the op table's formulas,
``autograd.walk``, the unfused layers). Data, gradients (intermediates
included), dtypes, the kind of each number (Python float or ndarray) and the
node records must agree exactly: compared byte for byte, so -0.0 against 0.0
or one rounding apart fails.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nn
from tinygrad_nn import Value, autograd, concatenate, nn, reference_mode, stack, where
from tinygrad_nn._fast import switch
from tinygrad_nn.ops import OPS
from tinygrad_nn.testing import arrays, broadcastable_shapes, dense_networks, network_inputs
from tinygrad_nn.value import apply


def both(build: Callable[[], Any]) -> tuple[Any, Any]:
    """``build()`` on the fast path, then on the reference path (inside errstate: silent)."""
    with np.errstate(all="ignore"):
        with switch.fast_mode():
            got = build()
        with reference_mode():
            want = build()
    return got, want


def same_bits(a: Any, b: Any, what: str = "") -> None:
    """a and b are the same number(s): same kind, dtype, shape and bytes."""
    if isinstance(a, Value) or isinstance(b, Value):
        assert isinstance(a, Value) and isinstance(b, Value), what
        same_bits(a.data, b.data, what + ".data")
        same_bits(a.grad, b.grad, what + ".grad")
        return
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} against {b!r}"
        return
    assert type(a) is type(b), f"{what}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_bits(x, y, f"{what}[{i}]")
        return
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            same_bits(a[k], b[k], f"{what}[{k!r}]")
        return
    if type(a) in (bool, int, str, slice, np.dtype) or a is Ellipsis:
        assert a == b, what
        return
    x, y = np.asarray(a), np.asarray(b)
    assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {x.dtype}{x.shape} against {y.dtype}{y.shape}"
    assert x.tobytes() == y.tobytes(), f"{what}: values differ\n{x!r}\n{y!r}"


def records(nodes: list[Value]) -> list[Any]:
    """Each node's record, with inputs named by their position in ``nodes``."""
    where_ = {id(v): i for i, v in enumerate(nodes)}
    out = []
    for v in nodes:
        if v._op is None:
            out.append(None)
            continue
        ins = [None if p is None else where_.get(id(p), "outside") for p in autograd.inputs(v)]
        out.append((v.op, ins, autograd.saved(v), autograd.op_params(v)))
    return out


# -- every op of the table -------------------------------------------------------------

POSITIVE = {"min_value": 0.125, "max_value": 3.0}  # exact in float32 too
UNARY: dict[str, Callable[[Value], Value]] = {
    "neg": lambda x: -x,
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "sqrt": lambda x: x.sqrt(),
    "abs": lambda x: abs(x),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: x.relu(),
    "leaky_relu": lambda x: x.leaky_relu(0.1),
    "softplus": lambda x: nn.functional.softplus(x),
    "sum": lambda x: x.sum(axis=-1 if x.ndim else None, keepdims=True),
    "mean": lambda x: x.mean(),
    "max": lambda x: x.max(axis=0 if x.ndim else None),
    "softmax": lambda x: x.softmax(axis=-1) if x.ndim else x.exp(),
    "log_softmax": lambda x: x.log_softmax(axis=-1) if x.ndim else x.exp(),
    "reshape": lambda x: x.reshape(-1),
    "transpose": lambda x: x.T,
    "broadcast_to": lambda x: x.broadcast_to((2, *x.shape)),
    "sum_to": lambda x: x.broadcast_to((3, *x.shape)).sum_to(x.shape),
    "getitem": lambda x: x[..., None][0] if x.ndim else x[None],
    "scatter": lambda x: x[np.zeros(2, dtype=int)] if x.ndim else x[None],
    "astype": lambda x: x.astype(np.float32) * 2.0,
}
BINARY: dict[str, Callable[[Any, Any], Value]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "where": lambda a, b: where(np.asarray(a.data if isinstance(a, Value) else a) > 1.0, a, b),
    "squared_error": lambda a, b: nn.mse_loss(a, b, reduction="sum"),
    "binary_cross_entropy": lambda a, b: nn.binary_cross_entropy(a / 4.0, b / 4.0, reduction="none"),
}


def test_every_op_of_the_table_is_compared_here():
    compared = set(UNARY) | set(BINARY) | {"matmul", "concatenate", "stack"}
    fused = {"linear", "linear_sigmoid", "linear_tanh", "linear_relu"}  # fast-path only: the layer tests
    assert set(OPS) - fused == compared


dtypes = st.sampled_from([np.float64, np.float32])


@pytest.mark.parametrize("name", sorted(UNARY))
@given(dtype=dtypes, data=st.data())
def test_unary_ops(name, dtype, data):
    a = data.draw(arrays(dtype=dtype, **POSITIVE))
    scalar = data.draw(st.booleans()) and a.ndim == 0 and dtype == np.float64

    def build() -> list[Value]:
        x = Value(float(a) if scalar else a)
        y = UNARY[name](x)
        y.backward(np.ones(y.shape, y.dtype))
        return [x, y]

    got, want = both(build)
    same_bits(got, want, name)
    same_bits(records(got), records(want), name)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(dtype=dtypes, data=st.data())
def test_binary_ops_with_values_and_constants(name, dtype, data):
    sa, sb = data.draw(broadcastable_shapes(2, max_dims=2))
    if name in ("squared_error", "binary_cross_entropy"):
        sb = sa
    a, b = data.draw(arrays(sa, dtype=dtype, **POSITIVE)), data.draw(arrays(sb, dtype=dtype, **POSITIVE))
    kind = data.draw(st.sampled_from(["both", "left", "right", "float"]))

    def build() -> list[Any]:
        x, y = Value(a), Value(b)
        if kind == "left":
            y = b  # a constant array on the right
        elif kind == "right":
            x = a
        elif kind == "float" and name not in ("squared_error", "binary_cross_entropy"):
            y = 1.5
        out = BINARY[name](x, y)
        out.backward(np.ones(out.shape, out.dtype))
        return [v for v in (x, y, out) if isinstance(v, Value)]

    got, want = both(build)
    same_bits(got, want, name)
    same_bits(records(got), records(want), name)


@given(dtype=dtypes, data=st.data())
def test_matmul_concatenate_stack(dtype, data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    lead = data.draw(st.sampled_from([(), (2,)]))
    a = data.draw(arrays((*lead, n, k), dtype=dtype))
    b = data.draw(arrays((k, m) if data.draw(st.booleans()) else (k,), dtype=dtype))

    def build() -> list[Value]:
        x, y = Value(a), Value(b)
        z = x @ y
        c = concatenate([z, z * 2.0], axis=-1)
        s = stack([z, 1.0 - z])
        out = c.sum() + s.mean()
        out.backward()
        return [x, y, z, c, s, out]

    got, want = both(build)
    same_bits(got, want)
    same_bits(records(got), records(want))


# -- generated graphs: broadcasting, reuse, 0-d, float32, second order ------------------

STEPS = ["add", "sub", "mul", "div", "tanh", "sigmoid", "relu", "exp", "square", "sum", "constant"]


@st.composite
def programs(draw: Any) -> tuple[Any, list[np.ndarray], list[tuple[str, int, int]]]:
    dtype = draw(dtypes)
    leaf_shapes = draw(broadcastable_shapes(3, max_dims=2, max_side=3))
    leaves = [draw(arrays(s, dtype=dtype, min_value=-2.0, max_value=2.0)) for s in leaf_shapes]
    steps = draw(
        st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 99), st.integers(0, 99)), max_size=10)
    )
    return dtype, leaves, steps


def run_program(leaves: list[np.ndarray], steps: list[tuple[str, int, int]], create_graph: bool) -> list[Any]:
    xs = [Value(a) for a in leaves]
    pool: list[Value] = list(xs)
    for name, i, j in steps:
        a, b = pool[i % len(pool)], pool[j % len(pool)]  # reuse: a node may feed many others
        if name in ("add", "sub", "mul"):
            new = BINARY[name](a, b)
        elif name == "div":
            new = a / (b * b + 1.0)
        elif name == "square":
            new = a**2
        elif name == "exp":
            new = a.tanh().exp()
        elif name == "sum":
            new = a.sum(axis=-1, keepdims=True) if a.ndim else a.sum()
        elif name == "constant":
            new = np.full(a.shape, 0.5, a.dtype) * a + 0.25
        else:
            new = getattr(a, name)()
        pool.append(new)
    out = pool[0].sum()
    for v in pool[1:]:
        out = out + v.sum()
    if create_graph:
        grads = autograd.grad(out, xs, create_graph=True)
        second = grads[0].sum()
        for g in grads[1:]:
            second = second + (g * g).sum()
        if second.requires_grad:  # (not when every gradient is a constant)
            second.backward()
        return [*pool, out, *grads, second]
    out.backward()
    return [*pool, out]


@given(programs(), st.booleans())
def test_generated_graphs(program, create_graph):
    _, leaves, steps = program
    got, want = both(lambda: run_program(leaves, steps, create_graph))
    same_bits(got, want)
    same_bits(records(got), records(want))


# -- networks ----------------------------------------------------------------------------

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus, "identity": nn.Identity,
}  # fmt: skip
LOSSES: dict[str, Callable[[Value, np.ndarray], Value]] = {
    "sse": nn.sse_loss,
    "mse": nn.mse_loss,
    "bce": lambda o, t: nn.binary_cross_entropy(o.sigmoid(), t),
    "bce_logits": nn.binary_cross_entropy_with_logits,
    "cross_entropy": nn.cross_entropy,
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_sequential_networks(act, loss, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(dtype)
    t = (rng.random((8, 3)) > 0.5).astype(dtype)
    if loss == "cross_entropy":
        t = np.eye(3, dtype=dtype)[np.arange(8) % 3]

    def build() -> list[Any]:
        gen = np.random.default_rng(1)
        model = nn.Sequential(
            nn.Dense(4, 5, rng=gen, dtype=dtype), ACTIVATIONS[act](),
            nn.Dense(5, 5, rng=gen, dtype=dtype), ACTIVATIONS[act](),
            nn.Dense(5, 3, rng=gen, dtype=dtype),
        )  # fmt: skip
        out = model(x)
        value = LOSSES[loss](out, t)
        value.backward()
        return [out, value, *model.parameters()]

    got, want = both(build)
    same_bits(got, want, f"{act}/{loss}")


@given(dense_networks(depth=(1, 3), width=(1, 6)).flatmap(lambda m: st.tuples(st.just(m), network_inputs(m))))
def test_generated_dense_networks(model_and_data):
    model, (x, t) = model_and_data

    def build() -> list[Any]:
        model.zero_grad()
        out = model(x)
        nn.sse_loss(out, t).backward()
        return [out, *(p.grad for p in model.parameters())]

    got, want = both(build)
    same_bits(got, want)


def test_scalar_mlp():
    """A micrograd-style network: one scalar Value per weight (the scalar hot paths)."""
    rng = np.random.default_rng(4)
    sizes = [2, 4, 4, 1]
    weights = [rng.uniform(-1, 1, (n_in + 1, n_out)).tolist() for n_in, n_out in itertools.pairwise(sizes)]
    points = rng.standard_normal((6, 2)).tolist()

    def build() -> list[Any]:
        ws = [[[Value(w) for w in row] for row in layer] for layer in weights]
        loss = Value(0.0)
        for point in points:
            h: list[Any] = point
            for k, layer in enumerate(ws):
                h = [
                    sum((layer[i][j] * h[i] for i in range(len(h))), layer[-1][j])
                    for j in range(len(layer[0]))
                ]
                h = [v.tanh() if k < len(ws) - 1 else v for v in h]
            loss = loss + (h[0] - 1.0) ** 2
        loss.backward()
        return [loss, *(w for layer in ws for row in layer for w in row)]

    got, want = both(build)
    assert type(got[0].data) is float
    same_bits(got, want)


# -- the switch itself -----------------------------------------------------------------------


def test_reference_mode_runs_the_reference_code_and_nests(fast_path):
    x, w = np.ones((2, 3)), Value(np.ones((3, 4)))
    layer = nn.Dense(3, 4, rng=0)
    assert layer(x).op == "linear"  # the fast path's one node
    with reference_mode():
        assert not switch.fast_enabled()
        assert layer(x).op == "add" and layer(x).inputs[0].op == "matmul"
        with reference_mode():
            assert (x @ w).op == "matmul"
        assert not switch.fast_enabled()  # still inside the outer block
    assert switch.fast_enabled() and layer(x).op == "linear"

    @reference_mode()
    def decorated() -> bool:
        return switch.fast_enabled()

    assert decorated() is False and switch.fast_enabled()


def test_reference_mode_is_restored_after_an_error(fast_path):
    with pytest.raises(ZeroDivisionError), reference_mode():
        raise ZeroDivisionError
    assert switch.fast_enabled()


def test_environment_variable_keeps_the_fast_path_out():
    code = "import tinygrad_nn, tinygrad_nn._fast.switch as s; print(s.fast_enabled())"
    for value, expected in (("1", "False"), ("0", "True"), ("", "True")):
        env = {**os.environ, "TINYGRAD_NN_REFERENCE": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected, value


def test_public_names():
    assert tinygrad_nn.reference_mode is reference_mode
    assert apply is tinygrad_nn.value.apply
    assert stack is tinygrad_nn.stack
