"""tinygrad_nn.graph.names: value summaries, and the checks every graph function makes of its inputs."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_nn import Value
from tinygrad_nn.graph import summarize, to_dot


def test_summarize_numbers_small_and_large_arrays():
    assert summarize(2.0) == "2"
    assert summarize(-0.123456) == "-0.1235"
    assert summarize(None) == "—"
    assert summarize(np.array([1.0, 2.5])) == "[1, 2.5]"
    assert summarize(np.arange(6.0).reshape(2, 3)) == "(2, 3) [0, 1, 2, 3, …]"
    assert summarize(np.ones(2, dtype=np.float32)) == "[1, 1] float32"
    assert summarize(Value(3.0)) == "3"


def test_graph_functions_refuse_a_constant_or_a_non_value():
    with pytest.raises(ValueError, match="to_dot: this Value has no graph"):
        to_dot(Value(1.0, requires_grad=False))
    with pytest.raises(TypeError, match="to_dot: expected a Value, got float"):
        to_dot(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="names must map strings to Values"):
        to_dot(Value(1.0) * 2.0, {"x": 1.0})  # type: ignore[dict-item]
