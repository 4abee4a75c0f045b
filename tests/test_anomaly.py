"""detect_anomaly() (issue 15): the first op making a nan or inf from finite numbers raises."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import Value, autograd, detect_anomaly, is_anomaly_enabled, nn, reference_mode
from tinygrad_nn._fast import switch
from tinygrad_nn.anomaly import Watched


@pytest.fixture(params=["fast", "reference"])
def engine(request: Any) -> Iterator[str]:
    """The engine the user runs: the anomaly mode must hold in both."""
    with switch.fast_mode() if request.param == "fast" else reference_mode():
        yield request.param


def here() -> int:
    """The line number of the caller's line."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


@pytest.mark.parametrize(
    "make", [lambda: Value(np.array([1.0, 0.0])), lambda: Value(0.0)], ids=["array", "float"]
)
def test_a_forward_op_making_inf_is_named_with_the_users_line(engine, make):
    x = make()
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = here() + 1
        x.log()
    msg = str(info.value)
    assert "forward pass of op 'log' produced -inf" in msg
    assert f"output shape {x.shape}" in msg
    assert f"{__file__}:{line} in test_a_forward_op_making_inf" in msg


@pytest.mark.parametrize(
    "make", [lambda: Value(np.array([4.0, 0.0])), lambda: Value(0.0)], ids=["array", "float"]
)
def test_a_backward_rule_making_inf_names_the_line_that_made_the_node(engine, make):
    x = make()
    with detect_anomaly():
        line = here() + 1
        y = (x * 1.0).sqrt()  # sqrt(0) = 0 is fine; its derivative 1 / (2·0) is not
        with pytest.raises(FloatingPointError) as info:
            y.sum().backward()
    msg = str(info.value)
    assert "backward pass of op 'sqrt' produced inf in the gradient for its input 0" in msg
    assert f"made at {__file__}:{line} in test_a_backward_rule" in msg
    assert x.grad is None


def test_division_by_zero_and_overflow(engine):
    with detect_anomaly():
        with pytest.raises(FloatingPointError, match="op 'div' produced inf"):
            Value(np.array([1.0])) / 0.0
        with pytest.raises(FloatingPointError, match="op 'exp' produced inf"):
            Value(np.array([800.0])).exp()
        with pytest.raises(FloatingPointError, match="op 'mul' produced inf"):
            Value(np.array([1e308])) * 10.0
        Value(np.inf) - np.inf  # nan, but from an inf: not this op's doing


def test_nan_carried_from_the_inputs_is_not_an_anomaly(engine):
    with detect_anomaly():
        y = Value(np.array([np.nan, 1.0])) * 2.0  # the op did not make the nan
        assert np.isnan(y.data[0])


def test_finite_work_gives_the_same_bits_inside_and_outside(engine):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))

    def step() -> list[np.ndarray]:
        model = nn.Sequential(nn.Dense(3, 4, rng=1), nn.Tanh(), nn.Dense(4, 2, rng=2), nn.Sigmoid())
        loss = nn.sse_loss(model(x), np.zeros((5, 2)))
        loss.backward()
        return [loss.data, *(p.grad for p in model.parameters())]

    outside = step()
    with detect_anomaly():
        inside = step()
    for a, b in zip(outside, inside, strict=True):
        np.testing.assert_array_equal(a, b)


def test_nodes_made_before_the_block_are_checked_in_backward(engine):
    x = Value(np.array([0.0, 1.0]))
    y = (x * 1.0).sqrt()
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"made outside detect_anomaly\(\)"):
        y.sum().backward()


def test_differentiable_gradients_are_checked_too(engine):
    x = Value(np.array([0.0, 1.0]))
    with detect_anomaly():
        y = (x * 1.0).sqrt()
        # sqrt's rule g / (2·out) runs as recorded ops: the division is the op at fault
        with pytest.raises(FloatingPointError, match="forward pass of op 'div' produced inf"):
            autograd.grad(y.sum(), [x], create_graph=True)


def test_the_mode_is_restored_and_usable_as_a_decorator(engine):
    fast_before = switch.fast_enabled()

    @detect_anomaly()
    def bad() -> None:
        assert is_anomaly_enabled() and not switch.fast_enabled()
        Value(np.array([-1.0])).sqrt()

    with pytest.raises(FloatingPointError, match="op 'sqrt' produced nan"):
        bad()
    assert not is_anomaly_enabled()
    assert switch.fast_enabled() == fast_before


def test_nothing_is_kept_or_checked_outside_the_block(engine):
    x = Value(np.array([1.0, 0.0]))
    with np.errstate(divide="ignore"):
        y = x.log()  # -inf, as numpy gives it: no error outside the block
    assert y.data[1] == -np.inf
    assert type(y._op) is not Watched
    with detect_anomaly():
        z = x * 2.0
    assert type(z._op) is Watched and z._op.site is not None
    z.sum().backward()  # and such a node still runs backward after the block
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_public_names():
    assert tg.detect_anomaly is detect_anomaly and "detect_anomaly" in tg.__all__
