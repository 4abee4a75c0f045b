"""Small graphs to look at: the ones ``tinygrad-nn graph`` draws and traces.

:func:`expression_graph` evaluates a small arithmetic expression typed on the
command line, safely: it walks the parsed syntax tree itself and allows only
numbers, the given variables, arithmetic and a few functions, never Python's
``eval``. :func:`network_graph` builds a 2 → 2 → 1 sigmoid network after its
backward pass, so that each pre-activation's gradient is the δ of the
hand-derived backprop (:mod:`tinygrad_nn.backprop`).
"""

from __future__ import annotations

import ast
import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ..value import Value
from .names import _num

__all__ = ["expression_graph", "network_graph"]

_FUNCTIONS: dict[str, Callable[[Value], Value]] = {
    "exp": Value.exp,
    "log": Value.log,
    "sqrt": Value.sqrt,
    "abs": Value.abs,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "relu": Value.relu,
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


# Python float arithmetic raises these, numpy's errstate(all="raise") raises
# FloatingPointError, and the filter below turns numpy's and the engine's
# RuntimeWarnings (e.g. log of a negative number) into exceptions.
_NOT_FINITE = (ZeroDivisionError, OverflowError, FloatingPointError, RuntimeWarning)


@contextlib.contextmanager
def _strict() -> Iterator[None]:
    """Every inf/nan-producing operation inside raises instead of warning."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "overflow"
    return str(exc) or type(exc).__name__


def _finite(x: Any) -> bool:
    return bool(np.all(np.isfinite(x.data if isinstance(x, Value) else x)))


def expression_graph(
    expr: str, variables: Mapping[str, float], *, backward: bool = False
) -> tuple[Value, dict[str, Value]]:
    """Evaluate a small arithmetic expression on scalar Values; returns ``(result, names)``.

    The expression may use the given variables, numbers, ``+ - * / **``,
    unary minus and the functions (or methods) exp, log, sqrt, abs, tanh,
    sigmoid, relu: ``"tanh(a*b + c)"`` or ``"(a*b + c).tanh()"``. Nothing
    else is evaluated (no attribute access, no other calls). ``names`` maps
    each variable name to its leaf Value, and ``"f"`` to the result (``"out"``
    if a variable is called f), for :func:`to_dot` and :func:`trace`.
    ``backward=True`` also runs ``result.backward()``.

    Raises ValueError for anything else, for an expression nested too deeply,
    and when a value (or, with ``backward``, a gradient) is not finite, e.g.
    ``log(x) at x=-1 is not finite (invalid value encountered in log)``.
    """
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression: cannot parse {expr!r} ({exc.msg})") from None
    except (RecursionError, MemoryError):  # the parser's own nesting limit
        raise ValueError(f"expression: too long or too deeply nested ({len(expr)} characters)") from None
    leaves: dict[str, Value] = {}
    for name, number in variables.items():
        if not name.isidentifier():
            raise ValueError(f"expression: variable name {name!r} is not an identifier")
        if not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"expression: variable {name} must be a finite number, got {number!r}")
        leaves[name] = Value(float(number))

    def where(node: ast.AST) -> str:
        used = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in leaves})
        at = ", ".join(f"{n}={_num(float(leaves[n].data))}" for n in used)
        return ast.unparse(node) + (f" at {at}" if at else "")

    def apply(node: ast.AST, op: Callable[..., Any], *operands: Any) -> Any:
        """``op(*operands)`` for the AST ``node``; a non-finite result is an error naming it."""
        try:
            out = op(*operands)
        except _NOT_FINITE as exc:
            raise ValueError(f"expression: {where(node)} is not finite ({_reason(exc)})") from None
        if isinstance(out, complex):  # Python's float power: (-8) ** (1/3)
            raise ValueError(f"expression: {where(node)} is not a real number")
        if not _finite(out):  # Python float * and + overflow to inf silently
            raise ValueError(f"expression: {where(node)} is not finite (overflow)")
        return out

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            if isinstance(node.value, bool):
                raise ValueError(f"expression: unsupported constant {node.value!r}")
            return apply(node, float, node.value)  # a huge integer literal overflows
        if isinstance(node, ast.Name):
            if node.id not in leaves:
                known = ", ".join(sorted(leaves)) or "none given"
                raise ValueError(f"expression: unknown variable {node.id!r} (variables: {known})")
            return leaves[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return apply(node, _BINARY[type(node.op)], ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = ev(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Call) and not node.keywords:
            func, args = node.func, list(node.args)
            if isinstance(func, ast.Name) and func.id in _FUNCTIONS and len(args) == 1:
                name, arg = func.id, args[0]
            elif isinstance(func, ast.Attribute) and func.attr in _FUNCTIONS and not args:
                name, arg = func.attr, func.value
            else:
                raise ValueError(
                    f"expression: unsupported call {ast.unparse(node)!r}; use one of "
                    f"{', '.join(sorted(_FUNCTIONS))} with one argument"
                )
            inner = ev(arg)
            operand = inner if isinstance(inner, Value) else Value(inner, requires_grad=False)
            return apply(node, _FUNCTIONS[name], operand)
        raise ValueError(f"expression: unsupported syntax {ast.unparse(node)!r}")

    with _strict():
        try:
            result = ev(tree.body)
        except (RecursionError, MemoryError):  # ev recurses once per level of nesting
            raise ValueError(f"expression: too long or too deeply nested ({len(expr)} characters)") from None
        if not isinstance(result, Value) or not result.requires_grad:
            raise ValueError(f"expression: {expr!r} does not depend on any variable")
        if backward:
            try:
                result.backward()
            except _NOT_FINITE as exc:
                raise ValueError(
                    f"expression: the gradient of {where(tree.body)} is not finite ({_reason(exc)})"
                ) from None
            bad = [n for n, v in leaves.items() if v.grad is not None and not _finite(v.grad)]
            if bad:  # pragma: no cover - the strict mode above raises first
                raise ValueError(f"expression: the gradient of {where(tree.body)} is not finite")
    top = next(n for n in ("f", "out", "result", "f_") if n not in leaves)
    return result, {**leaves, top: result}


def network_graph(seed: int = 0) -> tuple[Value, dict[str, Value]]:
    """A 2 -> 2 sigmoid -> 1 sigmoid network on one sample with E = ½(O − t)², after ``backward()``.

    Returns ``(E, names)`` with the weights, biases, pre-activations z1, z2
    and outputs O1, O2 named, so the picture shows δ = ``z.grad`` on each
    pre-activation.
    """
    from .. import nn

    gen = np.random.default_rng(seed)
    hidden = nn.Dense(2, 2, rng=gen)
    output = nn.Dense(2, 1, rng=gen)
    x = np.array([[0.5, -1.0]])
    t = np.array([[1.0]])
    z1 = hidden(x)
    o1 = z1.sigmoid()
    z2 = output(o1)
    o2 = z2.sigmoid()
    err = 0.5 * ((o2 - t) ** 2).sum()
    err.backward()
    names = {
        "W1": hidden.weight, "b1": hidden.bias, "W2": output.weight, "b2": output.bias,
        "z1": z1, "O1": o1, "z2": z2, "O2": o2, "E": err,
    }  # fmt: skip
    return err, {k: v for k, v in names.items() if isinstance(v, Value)}
