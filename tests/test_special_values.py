"""A Python float and an array give the same value and gradient, special values included.

Scalars built from Python numbers take a separate path through the op table
(math-module forwards, rules on floats); for every op and every special value
(signed zeros, ±1, ±inf, nan, huge, tiny, negative bases with fractional
exponents) the result and the gradient must be those of the same number held
in a one-element array: nan where it is nan, the same infinity, and the same
finite number up to the last bits (Python's libm and numpy's own exp and pow
may round the last bit differently, as they do on numpy 1.24).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tinygrad_nn import Value, nn

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -8.0, 2.0, 1e308, -1e308, 1e-310, np.inf, -np.inf, np.nan]
EXPONENTS = [0.0, 1.0, 2.0, -1.0, 0.5, 1.0 / 3.0, -2.0, np.inf, np.nan]

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
    "square": lambda x: x * x,
    "reciprocal": lambda x: 1.0 / x,
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(),
    "max": lambda x: x.max(),
}
BINARY: dict[str, Callable[[Any, Any], Value]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


def _run(fn: Callable[..., Value], *xs: float, as_array: bool) -> tuple[Any, list[Any]]:
    vals = [Value(np.array([x]) if as_array else float(x)) for x in xs]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = fn(*vals)
        out.sum().backward() if as_array else out.backward()
    grads = [np.asarray(v.grad, dtype=np.float64).reshape(-1) for v in vals]
    return np.asarray(out.data, dtype=np.float64).reshape(-1), grads


def _agree(f: np.ndarray, a: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(f), np.isnan(a), err_msg=f"{what}: nan in one only")
    np.testing.assert_array_equal(f[np.isinf(f)], a[np.isinf(f)], err_msg=f"{what}: infinities")
    finite = np.isfinite(f)
    np.testing.assert_array_equal(finite, np.isfinite(a), err_msg=f"{what}: finite in one only")
    # (a last-bit difference in σ grows in σ(1 − σ): the rules read the output)
    np.testing.assert_allclose(f[finite], a[finite], rtol=1e-14, atol=1e-300, err_msg=what)


def _same(fn: Callable[..., Value], *xs: float) -> None:
    f_out, f_grads = _run(fn, *xs, as_array=False)
    a_out, a_grads = _run(fn, *xs, as_array=True)
    _agree(f_out, a_out, f"value at {xs}")
    for i, (f, a) in enumerate(zip(f_grads, a_grads, strict=True)):
        _agree(f, a, f"gradient {i} at {xs}")


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("x", SPECIAL, ids=repr)
def test_unary_ops_agree_between_floats_and_arrays(name, x):
    _same(UNARY[name], x)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_agree_between_floats_and_arrays(name):
    seconds = EXPONENTS if name == "pow" else SPECIAL
    for a, b in itertools.product(SPECIAL, seconds):
        _same(BINARY[name], a, b)


def test_the_cases_the_issue_names():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        a = Value(-8.0)
        y = a ** (1.0 / 3.0)
        y.backward()
        assert np.isnan(y.data) and np.isnan(a.grad)  # nan value, nan gradient (not a finite one)
        r = Value(np.nan).relu()
        assert np.isnan(r.data)
        z = Value(0.0)
        (z**0.0).backward()
        assert z.grad == 0.0  # d/dx x^0 = 0 everywhere, as in PyTorch
        za = Value(np.array([0.0, 2.0, -1.0]))
        (za**0).sum().backward()
        np.testing.assert_array_equal(za.grad, [0.0, 0.0, 0.0])
