"""How a graph is written as text: node names, value summaries, operand roles.

Shared by the DOT pictures (:mod:`~tinygrad_nn.graph.dot`) and the backward
trace (:mod:`~tinygrad_nn.graph.tracing`), so that a node, a number and an
edge read the same in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..value import Value

__all__ = ["Names", "summarize"]

Names = Mapping[str, Value] | Iterable[tuple[str, Value]] | None
"""Display names for some Values of a graph: a mapping or ``(name, value)`` pairs (or None)."""

# A Dense layer fused with its activation (the fast path's fused ops, tinygrad_nn/_fast/fused.py),
# and its δ written from the output O.
_FUSED_DELTAS = {"linear_sigmoid": "O(1 − O)", "linear_tanh": "(1 − O²)", "linear_relu": "[O > 0]"}

# Ops whose operands play different roles: the DOT edges are labelled with them
# (variadic ops by position).
_ROLES: dict[str, tuple[str, ...]] = {
    "sub": ("a", "b"),
    "div": ("a", "b"),
    "pow": ("base", "exponent"),
    "matmul": ("A", "B"),
    "linear": ("x", "W", "b"),
    **dict.fromkeys(_FUSED_DELTAS, ("x", "W", "b")),
    "where": ("x", "y"),
    "squared_error": ("prediction", "target"),
}


def _edge_label(op: str, i: int) -> str | None:
    """The role of operand ``i`` of ``op`` (its position for variadic ops), or None when all are alike."""
    if op in ("concatenate", "stack"):
        return str(i)
    roles = _ROLES.get(op)
    return roles[i] if roles is not None and i < len(roles) else None


def _num(x: float) -> str:
    return f"{x:.4g}"


def summarize(x: Any, max_items: int = 4) -> str:
    """A short text for a number or array: ``-6``, ``[0.5, 1]``, ``(8, 4) [0.1, -2, 3.3, …]``."""
    if x is None:
        return "—"
    if isinstance(x, Value):
        x = x.data
    if isinstance(x, (float, int, np.floating, np.integer)):
        return _num(float(x))
    arr = np.asarray(x)
    if arr.ndim == 0:
        return _num(float(arr))
    flat = arr.reshape(-1)
    items = ", ".join(_num(float(v)) for v in flat[:max_items])
    more = ", …" if flat.size > max_items else ""
    dtype = "" if arr.dtype == np.float64 else f" {arr.dtype}"
    if arr.size <= max_items and arr.ndim == 1:
        return f"[{items}]{dtype}"
    return f"{arr.shape} [{items}{more}]{dtype}"


def _name_table(order: list[Value], names: Names) -> dict[int, str]:
    """id(value) -> display name: the caller's names first, then v0, v1, … in graph order."""
    table: dict[int, str] = {}
    if names is not None:
        pairs = names.items() if isinstance(names, Mapping) else names
        for name, v in pairs:
            if not isinstance(v, Value):
                raise TypeError(
                    f"graph: names must map strings to Values, got {type(v).__name__} for {name!r}"
                )
            table.setdefault(id(v), str(name))
    used = set(table.values())
    k = 0
    for v in order:
        if id(v) not in table:
            while f"v{k}" in used:
                k += 1
            table[id(v)] = f"v{k}"
            used.add(f"v{k}")
    return table


def _check_root(root: Any, who: str) -> None:
    """Refuse, naming the caller ``who``, a root that is not a Value or has no graph behind it."""
    if not isinstance(root, Value):
        raise TypeError(f"{who}: expected a Value, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(
            f"{who}: this Value has no graph (it does not require grad: a constant, built only from "
            f"constants, or computed under no_grad)"
        )
