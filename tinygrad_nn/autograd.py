"""Reverse mode: walk the graph from the output back to the leaves, applying VJP rules.

``loss.backward()`` is three steps, after a check:

0. **Check** (:func:`tinygrad_nn.versions.check_versions`) that no data a
   rule will read was assigned since its node was recorded: the gradient
   would mix old and new numbers. It raises before anything is written.
1. **Order the nodes** (:func:`toposort`): every node after all the nodes
   that consume it, so that when the walk reaches a node, every contribution
   to its gradient has arrived. Kahn's algorithm over consumer counts, with a
   list as the to-do stack: iterative, so graph depth is limited only by
   memory.
2. **Walk** (:func:`walk`): start from dE/dE = 1 at the output; at each node,
   its gradient g is complete; send g through the op's VJP rules to each
   input (:func:`vjp`), summing what arrives at an input from its several
   consumers (the Σ_k of the classic δ_j = g′(z_j) Σ_k δ_k W_jk).
3. **Store** (:func:`backward`): add each node's gradient to its ``.grad``,
   so that calling ``backward`` twice gives exactly twice the gradients.

The same walk serves :func:`grad` (gradients returned instead of stored),
``create_graph=True`` (the rules run on Values, so the gradients have graphs
of their own) and the step-by-step trace of :mod:`tinygrad_nn.graph`.

By default ``backward`` and ``grad`` run a faster walk over the same order
(``tinygrad_nn/_fast/walk.py``: scratch slots on the nodes instead of
dicts); ``tinygrad_nn.reference_mode()`` runs this one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import anomaly
from ._fast import switch
from ._fast.record import inputs, op_params, saved
from .coerce import as_data, constant
from .grad_mode import enable_grad
from .numerics import sum_to
from .value import Value, new_value
from .versions import check_versions

__all__ = [
    "Step", "backward", "check_versions", "grad", "inputs", "op_params", "saved", "toposort", "vjp", "walk",
]  # fmt: skip


def toposort(root: Value) -> list[Value]:
    """Values reachable from ``root`` through inputs that require grad, each
    listed after all of its inputs; ``root`` is last.

    The backward walk visits nodes in the reverse of this order.
    """
    # How many times each node is an input inside this graph.
    consumers: dict[int, int] = {id(root): 0}
    todo = [root]
    while todo:
        node = todo.pop()
        for p in _recorded_inputs(node):
            if id(p) in consumers:
                consumers[id(p)] += 1
            else:
                consumers[id(p)] = 1
                todo.append(p)
    # A node is ready once every consumer has been listed.
    order = []
    ready = [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for p in _recorded_inputs(node):
            consumers[id(p)] -= 1
            if consumers[id(p)] == 0:
                ready.append(p)
    order.reverse()
    return order


def _recorded_inputs(node: Value) -> list[Value]:
    return [] if node._op is None else [p for p in inputs(node) if p is not None]


class Step(NamedTuple):
    """One node of the backward walk: its complete gradient and what it sent on."""

    node: Value
    grad: Any
    """dE/d node: the sum of every consumer's contribution."""
    sent: list[tuple[int, Value, Any]]
    """``(position, input, contribution)`` for each input that receives a gradient."""


def walk(root: Value, seed: Any, create_graph: bool = False) -> Iterator[Step]:
    """Propagate ``seed`` = dE/d root backwards; yield each node's :class:`Step`.

    Nodes come in reverse topological order, so each one's gradient is
    complete when it is yielded. With ``create_graph`` the gradients are
    Values, computed by recorded ops.
    """
    if create_graph and not isinstance(seed, Value):
        seed = new_value(seed)
    order = toposort(root)
    check_versions(order)
    pending: dict[int, Any] = {id(root): seed}  # gradients received so far, by node
    for node in reversed(order):
        g = pending.pop(id(node))
        sent = [] if node._op is None else vjp(node, g, create_graph)
        for _, p, c in sent:
            prev = pending.get(id(p))
            pending[id(p)] = c if prev is None else _add(prev, c, create_graph)
        yield Step(node, g, sent)


def _add(a: Any, b: Any, create_graph: bool) -> Any:
    if not create_graph:
        return a + b
    with enable_grad():  # a sum of Values is part of the gradient's graph
        return a + b


def vjp(node: Value, g: Any, create_graph: bool = False) -> list[tuple[int, Value, Any]]:
    """Send the gradient ``g`` of a recorded node through its op's VJP rules.

    Returns ``(position, input, contribution)`` for each input that receives
    a gradient; each contribution has its input's shape and dtype.
    """
    op, out, args, params = node._op, node.data, saved(node), op_params(node)
    assert op is not None
    if create_graph:
        # The rules run on Values (the node itself as ``out``, each recorded input
        # as itself), so that what they compute is recorded in its turn.
        out = node
        args = tuple(a if p is None else p for p, a in zip(inputs(node), args, strict=True))
    with (
        enable_grad() if create_graph else contextlib.nullcontext(),
        anomaly.quiet() if anomaly._depth else contextlib.nullcontext(),
    ):
        # An op of many inputs cuts g into every input's piece at once.
        pieces = None if op.split is None else op.split(g, out, args, **params)
        sent = []
        for i, p in enumerate(inputs(node)):
            if p is None:
                continue  # a constant: no gradient
            c = call_rule(op.vjps[i], g, out, args, params) if pieces is None else pieces[i]
            if anomaly._depth:  # inside detect_anomaly(): a new nan or inf stops here
                anomaly.watch_backward(node, g, i, c)
            sent.append((i, p, _fit_value(c, p) if create_graph else fit(c, p.data)))
    return sent


def call_rule(rule: Any, g: Any, out: Any, args: tuple[Any, ...], params: dict[str, Any]) -> Any:
    """``rule(g, out, *args, **params)``, with IEEE results where Python floats would raise."""
    try:
        return rule(g, out, *args, **params)
    except (ZeroDivisionError, OverflowError):
        # Python floats raise where IEEE arithmetic gives inf or nan: redo the rule
        # on numpy scalars, which give those results with numpy's warnings.
        return rule(*(np.float64(x) if type(x) is float else x for x in (g, out, *args)), **params)


def fit(c: Any, like: Any) -> Any:
    """Give a raw contribution the shape and dtype of the data it is for:
    sum out the axes broadcasting added, then cast."""
    if type(like) is float:
        return c if type(c) is float else float(np.sum(c))
    c = sum_to(np.asarray(c), like.shape)
    return c if c.dtype == like.dtype else c.astype(like.dtype)


def _fit_value(c: Any, p: Value) -> Value:
    if not isinstance(c, Value):
        return new_value(fit(c, p.data))
    if c.shape != p.shape:
        c = c.sum_to(p.shape)  # recorded, like every step of a differentiable gradient
    return c if c.dtype == p.dtype else c.astype(p.dtype)


def seed(root: Value, grad: Any) -> Any:
    """dE/d root: 1 for a single element, else the caller's ``grad`` (checked, copied)."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this Value does not require grad (it is a constant, was built only "
            "from constants, or was computed under no_grad)"
        )
    if grad is None:
        data = root.data
        if type(data) is float:
            return 1.0
        if data.size != 1:
            raise ValueError(
                f"backward: grad can be omitted only for a single-element output; this Value has "
                f"shape {root.shape}. Pass grad= of that shape, or reduce it first (e.g. .sum())"
            )
        return np.array(1.0, data.dtype) if data.ndim == 0 else np.ones(data.shape, data.dtype)
    if isinstance(grad, Value):
        grad = grad.data
    grad = np.array(constant(grad, "backward"), dtype=root.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"backward: grad has shape {grad.shape} but this Value has shape {root.shape}")
    return as_data(grad)


def backward(root: Value, grad: Any = None, create_graph: bool = False) -> None:
    """Accumulate ∂root/∂v into ``v.grad`` for every v in root's graph."""
    g0 = seed(root, grad)
    with _one_walk_at_a_time:
        fast = switch.FAST_WALK  # the fast path's walk, unless reference_mode() is on
        if fast is not None and not create_graph:
            fast.backward(root, g0)
            return
        for step in walk(root, g0, create_graph):
            accumulate(step.node, step.grad, create_graph)


# Backward passes in several threads take turns: graphs may share parameters,
# whose .grad each pass adds to (and the fast walk keeps scratch state on the
# nodes). So concurrent passes give exactly the sum of their contributions.
_one_walk_at_a_time = threading.RLock()


def accumulate(node: Value, g: Any, create_graph: bool = False) -> None:
    """``node.grad += g``; a leaf gets an array of its own (users and optimizers
    may change a ``.grad`` in place, and intermediates may share arrays)."""
    if node.grad is None:
        node.grad = g.copy() if node._op is None and isinstance(g, np.ndarray) else g
    elif create_graph:
        node.grad = _add(node.grad, g, create_graph)
    else:
        old = node.grad
        node.grad = (old.data if isinstance(old, Value) else old) + g


def grad(
    output: Value,
    inputs: Sequence[Value],
    grad_output: Any = None,
    create_graph: bool = False,
) -> list[Any]:
    """∂output/∂x for each x in ``inputs``, returned instead of stored in ``.grad``.

    Nothing's ``.grad`` changes. An input that ``output`` does not depend on
    gets zeros of its shape. With ``create_graph=True`` the results are Values
    that can be differentiated again (the basis of ``tinygrad_nn.grad``).
    """
    for x in inputs:
        if not isinstance(x, Value):
            raise TypeError(f"grad: inputs must be Values, got {type(x).__name__}")
    g0 = seed(output, grad_output)
    wanted = {id(x) for x in inputs}
    with _one_walk_at_a_time:
        fast = switch.FAST_WALK
        if fast is not None and not create_graph:
            found = fast.gradients(output, g0, wanted)
        else:
            found = {id(s.node): s.grad for s in walk(output, g0, create_graph) if id(s.node) in wanted}
    results = []
    for x in inputs:
        g = found.get(id(x))
        if g is None:
            zeros = 0.0 if type(x.data) is float else np.zeros_like(x.data)
            g = new_value(zeros) if create_graph else zeros
        results.append(g)
    return results
