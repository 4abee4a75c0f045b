"""Version checks (issue 15, item 1): data assigned between forward and backward is detected.

Every test runs on both engines (the ``engine`` fixture): the fast walk and
the reference walk must refuse the same graphs, before writing any ``.grad``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from tinygrad_nn import Value, autograd, concatenate, nn, optim, reference_mode, stack, where
from tinygrad_nn._fast import switch
from tinygrad_nn.autograd import inputs, op_params, saved
from tinygrad_nn.ops import OPS
from tinygrad_nn.versions import _positions_read, positions_read


@pytest.fixture(params=["fast", "reference"])
def engine(request: Any) -> Iterator[str]:
    with switch.fast_mode() if request.param == "fast" else reference_mode():
        yield request.param


def arr(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


# -- the issue's cases ------------------------------------------------------------------


def test_the_issues_example_raises_and_changes_nothing(engine):
    a, b = Value(arr(1.0, 2.0)), Value(arr(3.0, 4.0))
    a.grad = arr(0.5, 0.5)  # an earlier gradient must survive the failed pass
    c = (a * b).sum()
    b.data += 100.0
    with pytest.raises(RuntimeError, match=r"op 'mul' needs the data of its input 1 \(shape \(2,\)\)"):
        c.backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.5])
    assert b.grad is None and c.grad is None


def test_scalar_values_too(engine):
    a, b = Value(2.0), Value(3.0)
    c = a * b + a
    b.data = 4.0
    with pytest.raises(RuntimeError, match="op 'mul'"):
        c.backward()
    assert a.grad is None and b.grad is None


def test_an_optimizer_step_before_backward_names_the_parameter(engine):
    model = nn.Sequential(nn.Dense(3, 4), nn.Tanh(), nn.Dense(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = np.random.default_rng(0).normal(size=(5, 3))
    loss = nn.sse_loss(model(x), np.zeros((5, 2)))
    before = [p.data.copy() for p in model.parameters()]
    opt.step()  # no gradients yet: nothing moves, nothing is counted as changed
    loss.backward()
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    assert any(not np.array_equal(p.data, b) for p, b in zip(model.parameters(), before, strict=True))
    model.zero_grad()
    # (which layer is named first depends on the graph: the fast path fuses each layer)
    with pytest.raises(RuntimeError, match=r"parameter 'Dense.weight', shape \((3, 4|4, 2)\)"):
        loss.backward()
    assert all(p.grad is None for p in model.parameters())


def test_a_changed_output_is_detected_when_its_rule_reads_it(engine):
    x = Value(arr(0.5, -1.0))
    y = x.tanh()  # tanh' is computed from the output
    y.data = y.data * 2.0
    with pytest.raises(RuntimeError, match=r"op 'tanh' needs its own output \(shape \(2,\)\)"):
        y.sum().backward()
    z = x.exp()
    z.data = z.data + 1.0
    with pytest.raises(RuntimeError, match="op 'exp'"):
        z.sum().backward()


def test_fused_dense_nodes_are_checked(engine):
    model = nn.Sequential(nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 1), nn.Sigmoid())
    x = Value(np.random.default_rng(1).normal(size=(4, 2)))
    out = model(x)
    if engine == "fast":
        assert out.op == "linear_sigmoid"  # the fast path's fused node
    out.data = out.data * 0.5
    with pytest.raises(RuntimeError, match="needs its own output"):
        out.sum().backward()
    x2 = Value(np.random.default_rng(2).normal(size=(4, 2)))
    loss = model(x2).sum()
    x2.data = x2.data + 1.0  # the first layer's weight gradient reads x
    with pytest.raises(RuntimeError, match=r"input 0 \(shape \(4, 2\)\)"):
        loss.backward()


def test_every_backward_entry_point_checks(engine):
    a, b = Value(arr(1.0, 2.0)), Value(arr(3.0, 4.0))
    c = (a * b).sum()
    b.data = arr(0.0, 0.0)
    with pytest.raises(RuntimeError):
        autograd.grad(c, [a])
    with pytest.raises(RuntimeError):
        c.backward(create_graph=True)
    with pytest.raises(RuntimeError):
        next(autograd.walk(c, 1.0))


# -- what is not a change, or does not matter ---------------------------------------------


def test_changes_before_the_forward_pass_are_fine(engine):
    a, b = Value(arr(1.0, 2.0)), Value(arr(3.0, 4.0))
    b.data = arr(5.0, 6.0)
    a.data += 1.0
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad, [5.0, 6.0])
    np.testing.assert_array_equal(b.grad, [2.0, 3.0])


def test_data_no_rule_reads_may_change(engine):
    w, v = Value(arr(1.0, 2.0)), Value(arr(3.0, 4.0))
    c = np.array([2.0, 5.0])
    loss = (w * c).sum() + (v + w).sum()  # mul's rule for w reads c; add's rules read nothing
    w.data = arr(7.0, 7.0)
    v.data = arr(0.0, 0.0)
    loss.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 6.0])
    np.testing.assert_array_equal(v.grad, [1.0, 1.0])


def test_training_loops_with_accumulation_run(engine):
    model = nn.Sequential(nn.Dense(3, 4), nn.Sigmoid(), nn.Dense(4, 1))
    opt = optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(3)
    for _ in range(3):
        opt.zero_grad()
        for _ in range(2):  # two micro-batches, one step
            nn.mse_loss(model(rng.normal(size=(4, 3))), rng.normal(size=(4, 1))).backward()
        opt.step()


def test_an_optimizer_step_counts_as_a_change(engine):
    p = nn.Parameter(arr(1.0, 2.0))
    q = nn.Parameter(3.0)
    opt = optim.SGD([p, q], lr=0.1)
    v0, w0 = p.version, q.version
    p.grad, q.grad = arr(1.0, 1.0), 1.0
    opt.step()
    assert p.version > v0 and q.version > w0


def test_versions_count_assignments_only():
    v = Value(arr(1.0))
    assert v.version == 0
    (v * 2.0).sum()
    assert v.version == 0
    v.data = arr(2.0)
    first = v.version
    v.data += 1.0
    assert v.version > first > 0


# -- what each rule reads -----------------------------------------------------------------


def test_what_the_rules_read():
    mul, tanh, add, sigmoid = OPS["mul"], OPS["tanh"], OPS["add"], OPS["sigmoid"]
    assert positions_read(mul.vjps[0], 2) == (2,)  # g * b
    assert positions_read(mul.vjps[1], 2) == (1,)  # g * a
    assert positions_read(add.vjps[0], 2) == ()
    assert 0 in positions_read(tanh.vjps[0], 1)
    assert 0 in positions_read(sigmoid.vjps[0], 1)
    assert positions_read(lambda g, out, *xs: g, 2) is None  # cannot tell: everything
    assert positions_read(OPS["concatenate"].split, 3, split=True) == (1, 2, 3)  # reads the shapes


def _cases() -> dict[str, Callable[[list[Value]], Value]]:
    """A node of every op of the table, from recorded inputs."""
    idx = np.array([0, 0, 1])
    return {
        "add": lambda v: v[0] + v[1],
        "sub": lambda v: v[0] - v[1],
        "mul": lambda v: v[0] * v[1],
        "div": lambda v: v[0] / v[1],
        "pow": lambda v: v[0] ** v[1],
        "matmul": lambda v: v[0].reshape(2, 3) @ v[1].reshape(3, 2),
        "neg": lambda v: -v[0],
        "exp": lambda v: v[0].exp(),
        "log": lambda v: v[0].log(),
        "sqrt": lambda v: v[0].sqrt(),
        "abs": lambda v: abs(v[0]),
        "tanh": lambda v: v[0].tanh(),
        "sigmoid": lambda v: v[0].sigmoid(),
        "relu": lambda v: v[0].relu(),
        "leaky_relu": lambda v: v[0].leaky_relu(0.1),
        "softplus": lambda v: nn.functional.softplus(v[0]),
        "sum": lambda v: v[0].sum(axis=0),
        "mean": lambda v: v[0].mean(),
        "max": lambda v: v[0].max(),
        "softmax": lambda v: v[0].softmax(),
        "log_softmax": lambda v: v[0].log_softmax(),
        "reshape": lambda v: v[0].reshape(3, 2),
        "transpose": lambda v: v[0].reshape(2, 3).T,
        "broadcast_to": lambda v: v[0].broadcast_to((2, 6)),
        "sum_to": lambda v: v[0].reshape(2, 3).sum_to((3,)),
        "getitem": lambda v: v[0][1:4],
        # scatter is getitem's rule when the gradient is differentiable
        "scatter": lambda v: autograd.grad((v[0][idx] * v[1][:3]).sum(), [v[0]], create_graph=True)[0],
        "astype": lambda v: v[0].astype(np.float32),
        "where": lambda v: where(np.array([1, 0, 1, 0, 1, 1], bool), v[0], v[1]),
        "concatenate": lambda v: concatenate([v[0], v[1]]),
        "stack": lambda v: stack([v[0], v[1]]),
        "squared_error": lambda v: nn.mse_loss(v[0], v[1], reduction="sum"),
        "binary_cross_entropy": lambda v: nn.binary_cross_entropy(v[0] * 0.1, v[1] * 0.1),
    }


def _node_of(name: str, node: Value) -> Value:
    """The node of op ``name`` in the small graph ``node`` ends (the builders add reshapes)."""
    for n in autograd.toposort(node)[::-1]:
        if n.op == name:
            return n
    raise AssertionError(f"no {name} node")


def test_every_op_of_the_table_is_checked_here():
    fused = {"linear", "linear_sigmoid", "linear_tanh", "linear_relu"}  # the layer tests above
    assert set(OPS) - fused == set(_cases())


@pytest.mark.parametrize("name", sorted(_cases()))
def test_a_rule_does_not_depend_on_what_it_is_said_not_to_read(name):
    """The analysis must never miss a read: changing everything a rule is said not
    to read leaves its result unchanged, bit for bit."""
    rng = np.random.default_rng(4)
    xs = [Value(rng.uniform(0.5, 2.0, size=6)) for _ in range(2)]
    with reference_mode():
        node = _node_of(name, _cases()[name](xs))
    op, ins, raws, params = node._op, inputs(node), saved(node), op_params(node)
    g = np.asarray(rng.uniform(0.5, 2.0, size=node.shape)).astype(node.dtype)
    data = [node.data, *raws]
    for i, p in enumerate(ins):
        if p is None:
            continue
        rule = op.vjps[i]
        keep = set(_positions_read(op, i, len(ins)))
        changed = [d if k in keep else _other(d) for k, d in enumerate(data)]
        want = rule(g, data[0], *data[1:], **params)
        got = rule(g, changed[0], *changed[1:], **params)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"{name} input {i}")


def _other(d: Any) -> Any:
    """Other numbers of the same shape and dtype."""
    if type(d) is float:
        return d * 3.0 + 1.5
    return (np.asarray(d) * 3.0 + 1.5).astype(np.asarray(d).dtype)


def test_a_check_that_passes_is_not_repeated_needlessly_on_the_fast_path(fast_path, monkeypatch):
    calls = []
    real = autograd.check_versions

    def spy(nodes: Any) -> None:
        calls.append(1)
        real(nodes)

    import tinygrad_nn._fast.walk as fast_walk

    monkeypatch.setattr(fast_walk, "check_versions", spy)
    a, b = Value(arr(1.0)), Value(arr(2.0))
    (a * b).sum().backward()
    assert calls == []  # nothing changed since the graph was recorded: no closer look
    c = (a * b).sum()
    Value(arr(0.0)).data = arr(1.0)  # some unrelated change
    c.backward()
    assert calls == [1]


def test_unrelated_changes_do_not_stop_backward(engine):
    a = Value(arr(1.0, 2.0))
    loss = (a * a).sum()
    other = Value(arr(5.0))
    other.data += 1.0
    with contextlib.nullcontext():
        loss.backward()
    np.testing.assert_array_equal(a.grad, [2.0, 4.0])
