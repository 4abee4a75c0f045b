"""Dense and Sequential on the fast path: one graph node per layer (and its activation).

* ``Dense`` records ``x @ w + b`` as one ``linear`` node (``_fast/fused.py``)
  instead of a matmul node and an add node.
* ``Sequential`` plans its children once (again whenever they change): a
  Dense layer followed by a ``Sigmoid``, ``Tanh`` or ``ReLU`` module runs as
  one fused node (``linear_sigmoid``, ...), whose backward is the
  activation's rule once and then linear's joint rule. Only the exact
  classes are fused, and only when neither module's ``forward`` or
  ``__call__`` was overridden (by a subclass or on the instance), since
  those might compute something else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .. import ops
from ..nn.activations import ReLU, Sigmoid, Tanh
from ..nn.containers import Sequential
from ..nn.layers import Dense
from ..nn.module import Module
from ..value import Value
from .apply import apply_layer
from .fused import LINEAR, LINEAR_RELU, LINEAR_SIGMOID, LINEAR_TANH

_FUSED: dict[type, ops.Op] = {Sigmoid: LINEAR_SIGMOID, Tanh: LINEAR_TANH, ReLU: LINEAR_RELU}


def dense_forward(self: Dense, x: Any) -> Value:
    """Dense.forward as one ``linear`` node."""
    x = self._input(x)
    if self.bias is None:
        return x @ self.weight
    return apply_layer(LINEAR, x, self.weight, self.bias)


def _dense_then(layer: Dense, activation: Module, op: ops.Op, x: Any) -> Value:
    """``activation(layer(x))`` computed as the fused ``op``: the same numbers, one node."""
    x = layer._input(x)
    if layer.bias is None:
        return activation(x @ layer.weight)
    return apply_layer(op, x, layer.weight, layer.bias)


def _plain(m: Module, cls: type) -> bool:
    """True when ``m`` runs ``cls``'s own forward: exactly that class, nothing overridden."""
    return type(m) is cls and "forward" not in m.__dict__ and "__call__" not in m.__dict__


def plan(children: tuple[Module, ...]) -> tuple[Callable[[Any], Any], ...]:
    """What Sequential calls, in order: each child, or a Dense layer and the activation after it as one."""
    steps: list[Callable[[Any], Any]] = []
    i = 0
    while i < len(children):
        m = children[i]
        nxt = children[i + 1] if i + 1 < len(children) else None
        op = _FUSED.get(type(nxt))
        if (
            op is not None
            and nxt is not None
            and isinstance(m, Dense)
            and _plain(m, Dense)
            and _plain(nxt, type(nxt))
        ):
            steps.append(partial(_dense_then, m, nxt, op))
            i += 2
        else:
            steps.append(m)
            i += 1
    return tuple(steps)


def sequential_forward(self: Sequential, x: Any) -> Any:
    """Sequential.forward through its plan (made again whenever the children change)."""
    children = tuple(self._modules.values())
    cached = self.__dict__.get("_fast_plan")
    if cached is None or cached[0] != children:
        cached = (children, plan(children))
        object.__setattr__(self, "_fast_plan", cached)  # bookkeeping, not a registered attribute
    for step in cached[1]:
        x = step(x)
    return x
