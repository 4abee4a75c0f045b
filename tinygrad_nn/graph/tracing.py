"""The backward pass, step by step: which gradient each edge sends back, and why.

:func:`trace` visits the nodes in reverse topological order (each node only
after every node that uses it, so its gradient is complete) and, for every
edge into an input, shows the local derivative ∂node/∂input, the contribution
``grad · ∂node/∂input`` sent back, and the input's gradient accumulated so
far. Its steps are those of :func:`tinygrad_nn.autograd.walk`, the walk
``backward()`` runs on the reference path, so the totals it reaches are what
``backward()`` stores; it leaves every ``.grad`` alone.

>>> from tinygrad_nn import Value
>>> from tinygrad_nn.graph import trace
>>> a, b = Value(2.0), Value(-3.0)
>>> c = a * b
>>> print(trace(c, {"a": a, "b": b, "c": c}))
backward pass of c, in reverse topological order (seed ∂c/∂c = 1)
[1] c = mul(a, b) = -6    grad ∂c/∂c = 1
      -> a: local ∂c/∂a = -3; adds -3; a.grad now -3
      -> b: local ∂c/∂b = 2; adds 2; b.grad now 2
[2] b = leaf = -3    grad ∂c/∂b = 2
[3] a = leaf = 2    grad ∂c/∂a = -3
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import autograd
from ..value import Value
from .names import _FUSED_DELTAS, Names, _check_root, _name_table, summarize

__all__ = ["TraceEdge", "TraceStep", "backward_steps", "trace"]

# Ops whose output element i depends only on input element i (when no
# broadcasting happens): their Jacobian is diagonal, so the local derivative
# of an array edge can be shown as one number per element.
_ELEMENTWISE = frozenset(
    {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
     "relu", "leaky_relu", "softplus", "astype", "where"}
)  # fmt: skip

# A fused Dense layer's rules, per input: linear's, applied to its δ.
_FUSED_RULES = ("δ @ Wᵀ", "xᵀ @ δ", "δ summed over the batch")

# For array edges whose Jacobian is not diagonal: what the VJP does, in words
# (g is the node's gradient, the upstream ∂E/∂out).
_VJP_TEXT: dict[str, tuple[str, ...]] = {
    "matmul": ("g @ Bᵀ", "Aᵀ @ g"),
    "linear": ("g @ Wᵀ", "xᵀ @ g (Σ over the batch of O_i δ_j)", "g summed over the batch"),
    **{name: tuple(f"{rule}, δ = g ⊙ {d}" for rule in _FUSED_RULES) for name, d in _FUSED_DELTAS.items()},
    "sum": ("g copied back over the summed axes",),
    "mean": ("g / n copied back over the averaged axes",),
    "max": ("g routed to the maxima (shared among ties)",),
    "softmax": ("s ⊙ (g − Σ g ⊙ s)",),
    "log_softmax": ("g − softmax ⊙ Σ g",),
    "reshape": ("g reshaped back",),
    "transpose": ("g transposed back",),
    "broadcast_to": ("g summed over the broadcast axes",),
    "sum_to": ("g broadcast back",),
    "getitem": ("g scattered into zeros at the index",),
    "scatter": ("g read at the index",),
    "concatenate": ("this input's slice of g",),
    "stack": ("this input's slice of g",),
}


@dataclass(frozen=True)
class TraceEdge:
    """One edge of the backward pass: gradient sent from a node to one of its inputs.

    ``local`` is the local derivative ∂node/∂input: for a single-element
    node, its whole Jacobian row (a number, or an array of the input's shape);
    for an elementwise op on arrays, the diagonal of the Jacobian; None
    otherwise, and then ``local_text`` says in words what the VJP computes.
    ``contribution`` = grad · ∂node/∂input, summed to the input's shape;
    ``accumulated`` is the input's gradient after adding it.
    """

    input: str
    local: Any
    local_text: str
    contribution: Any
    accumulated: Any


@dataclass(frozen=True)
class TraceStep:
    """One node of the backward pass, visited once its gradient is complete."""

    index: int
    name: str
    op: str | None
    data: Any
    grad: Any
    inputs: tuple[str, ...]
    edges: tuple[TraceEdge, ...]


def _local(node: Value, i: int, rule: Callable[..., Any], p: Value) -> tuple[Any, str]:
    """The local derivative ∂node/∂input_i (its value where it is compact, else None) and its text."""
    args, params, out = autograd.saved(node), autograd.op_params(node), node.data
    op = node.op or ""
    if node.size == 1:
        # A single-element node's Jacobian is one row: its VJP with g = 1.
        seed = 1.0 if type(out) is float else np.ones_like(out)
        row = autograd.fit(autograd.call_rule(rule, seed, out, args, params), p.data)
        return row, summarize(row)
    if op in _ELEMENTWISE and p.shape == node.shape:
        raw = np.asarray(autograd.call_rule(rule, np.ones_like(np.asarray(out)), out, args, params))
        diagonal = np.broadcast_to(raw, node.shape).astype(np.float64)
        return diagonal, "elementwise " + summarize(diagonal)
    texts = _VJP_TEXT.get(op)
    if texts is not None:
        text = texts[min(i, len(texts) - 1)]
    elif op in _ELEMENTWISE:
        text = "elementwise, then summed over the broadcast axes"
    else:
        text = "vector-Jacobian product"
    return None, text


def backward_steps(root: Value, names: Names = None) -> list[TraceStep]:
    """The backward pass from ``root``, one :class:`TraceStep` per node that requires grad.

    The steps are those of :func:`tinygrad_nn.autograd.walk`, the walk
    ``backward`` runs, seeded with ∂root/∂root = 1 (``root`` must have a
    single element); nothing's ``.grad`` changes.
    """
    _check_root(root, "trace")
    if root.size != 1:
        raise ValueError(
            f"trace: the root must have a single element (reduce it first), got shape {root.shape}"
        )
    table = _name_table(autograd.toposort(root), names)
    seed: Any = 1.0 if type(root.data) is float else np.ones_like(root.data)
    received: dict[int, Any] = {}  # each input's gradient so far, as the walk sums it
    steps: list[TraceStep] = []
    for step in autograd.walk(root, seed):
        node = step.node
        edges: list[TraceEdge] = []
        inputs: list[str] = []
        if node._op is not None:
            sent = {i: c for i, _, c in step.sent}
            for i, (p, arg) in enumerate(zip(autograd.inputs(node), autograd.saved(node), strict=True)):
                inputs.append(table[id(p)] if p is not None else f"const {summarize(arg)}")
                if p is None:
                    continue
                contribution = sent[i]
                prev = received.get(id(p))
                total = contribution if prev is None else prev + contribution
                received[id(p)] = total
                local, text = _local(node, i, node._op.vjps[i], p)
                edges.append(TraceEdge(table[id(p)], local, text, contribution, total))
        steps.append(
            TraceStep(
                len(steps) + 1, table[id(node)], node.op, node.data, step.grad, tuple(inputs), tuple(edges)
            )
        )
    return steps


def trace(root: Value, names: Names = None, *, max_items: int = 4) -> str:
    """The backward pass from ``root`` as text, step by step (see :func:`backward_steps`).

    For each node, in reverse topological order: its name, op, inputs, value
    and (complete) gradient, then for each input that requires grad the local
    derivative ∂node/∂input, the contribution grad · local sent back, and the
    input's gradient accumulated so far.
    """
    steps = backward_steps(root, names)
    top = steps[0].name
    lines = [f"backward pass of {top}, in reverse topological order (seed ∂{top}/∂{top} = 1)"]
    for s in steps:
        what = "leaf" if s.op is None else f"{s.op}({', '.join(s.inputs)})"
        lines.append(
            f"[{s.index}] {s.name} = {what} = {summarize(s.data, max_items)}"
            f"    grad ∂{top}/∂{s.name} = {summarize(s.grad, max_items)}"
        )
        for e in s.edges:
            sep = " = " if e.local is not None else ": "
            lines.append(
                f"      -> {e.input}: local ∂{s.name}/∂{e.input}{sep}{e.local_text}"
                f"; adds {summarize(e.contribution, max_items)}"
                f"; {e.input}.grad now {summarize(e.accumulated, max_items)}"
            )
    return "\n".join(lines)
