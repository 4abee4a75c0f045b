"""Reverse-mode differentiation: walk the graph backwards, applying VJP rules.

The walk never recurses, so graph depth is limited only by memory, and it
propagates each call's own contributions in scratch space of its own (slots
of the nodes, reset by every walk): ``.grad`` is written once per node, when
its gradient is complete (``+=`` onto what was there), so calling
``backward`` twice gives exactly twice the gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .ops import _ndarray
from .value import Value, _as_data, _constant


def _count_consumers(root: Value) -> object:
    """Set ``_count`` on every Value reachable from ``root`` through inputs that
    require grad: how many times it is an input inside that graph.

    The count lives in a slot of the node (much cheaper than a dict keyed by
    node, which dominated the walk on scalar graphs). Each pass makes a fresh
    token and puts it in ``_g``, the walk's pending gradient, of every node it
    counts: "counted, nothing received yet". That tells this pass's nodes from
    stale ones left by an earlier (or an interrupted) pass. Returns the token.
    """
    token = object()
    root._g = token
    root._count = 0
    stack = [root]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if node._op is None:
            continue
        # Unrolled for the two input slots: a loop over (a, b) costs a third more.
        a = node._a
        if a is not None:
            if a._g is token:
                a._count += 1
            else:
                a._g = token
                a._count = 1
                push(a)
        p = node._b
        if p is not None:
            if p._g is token:
                p._count += 1
            else:
                p._g = token
                p._count = 1
                push(p)
        elif a is None:  # n-ary: its inputs lead its _args (see Value)
            for p in node._args[0]:  # type: ignore[index]
                if p is not None:
                    if p._g is token:
                        p._count += 1
                    else:
                        p._g = token
                        p._count = 1
                        if p._op is not None:  # a leaf has nothing to count (a layer's parameters)
                            push(p)
    return token


def toposort(root: Value) -> list[Value]:
    """Values reachable from ``root`` through inputs that require grad, each
    listed after all of its inputs; ``root`` is last.

    Kahn's algorithm over the consumer counts: iterative, so depth is limited
    only by memory. The backward walk visits nodes in the reverse of this order.
    """
    _count_consumers(root)
    order = []
    ready = [root]
    while ready:
        node = ready.pop()
        node._g = None
        order.append(node)
        if node._op is None:
            continue
        for p in node._input_values():
            if p is not None:
                p._count -= 1
                if p._count == 0:
                    ready.append(p)
    order.reverse()
    return order


def _seed(root: Value, grad: Any) -> Any:
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
        return np.array(1.0, data.dtype) if data.ndim == 0 else np.ones_like(data)  # np.array: 5x faster
    if isinstance(grad, Value):
        grad = grad.data
    grad = np.array(_constant(grad, "backward"), dtype=root.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"backward: grad has shape {grad.shape} but this Value has shape {root.shape}")
    return _as_data(grad)


def _conform(c: Any, like: Any) -> Any:
    """Give a raw gradient contribution the shape and dtype of the data it is for."""
    if type(like) is float:
        if type(c) is float:
            return c
        return float(np.sum(c))
    if type(c) is not _ndarray:
        c = np.asarray(c)
    if c.shape != like.shape:
        if c.ndim == like.ndim + 1 and c.shape[1:] == like.shape:
            c = ops.sum_rows(c)  # a batch axis to sum out (the bias of a layer)
        else:
            c = ops.sum_to(c, like.shape)
    if c.dtype is not like.dtype and c.dtype != like.dtype:
        c = c.astype(like.dtype)
    return c


def _rule_ieee(rule: Any, g: Any, out: Any, args: tuple[Any, ...], params: Any) -> Any:
    """Redo a rule that hit 1/0 or overflow on Python floats with IEEE semantics
    (numpy scalars: inf or nan, with the same warnings as arrays)."""
    f64 = [np.float64(x) if type(x) is float else x for x in (g, out, *args)]
    return rule(*f64, **params) if params else rule(*f64)


def _propagate(
    op: ops.Op,
    parents: tuple[Value | None, ...],
    g: Any,
    out: Any,
    args: tuple[Any, ...],
    params: Any,
    token: object,
    push: Any,
) -> None:
    """Send the gradient ``g`` of a node (``op``'s output ``out``) to each of
    its inputs, ``parents``, through the op's VJP rules.

    Each contribution is added to the input's pending gradient (``token``: none
    yet); once every consumer of an input has sent its part, it is ready (``push``).
    """
    if op.pre is None:
        rules = op.vjps
    else:  # a fused op: its shared stage once (a Dense layer's δ), then the inner op's rules
        g = op.pre(g, out)
        rules = op.inner
    # The op's joint rule, when it has one and takes this case, gives every
    # contribution at once, already of its input's shape and dtype.
    joint = None if op.joint is None else op.joint(g, parents, *args)
    i = -1
    for p in parents:  # an index, not zip(): zip's strict= keyword alone costs ~0.2 µs
        i += 1
        if p is None:
            continue
        if joint is not None:
            c = joint[i]
        else:
            rule = rules[i]
            try:
                c = rule(g, out, *args) if params is None else rule(g, out, *args, **params)
            except (ZeroDivisionError, OverflowError):
                c = _rule_ieee(rule, g, out, args, params)
            if type(c) is not float or type(p.data) is not float:
                c = _conform(c, p.data)
        prev = p._g
        p._g = c if prev is token else prev + c
        left = p._count
        if left == 1:  # its last consumer: ready (the count is not read again)
            push(p)
        else:
            p._count = left - 1


def backward(root: Value, grad: Any = None, create_graph: bool = False) -> None:
    """Accumulate ∂root/∂v into ``v.grad`` for every v in root's graph."""
    _walk(root, _seed(root, grad), create_graph, wanted=None)


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
    found = _walk(output, _seed(output, grad_output), create_graph, wanted={id(x) for x in inputs})
    results = []
    for x in inputs:
        g = found.get(id(x))
        if g is None:
            zeros = 0.0 if type(x.data) is float else np.zeros_like(x.data)
            g = Value(zeros, requires_grad=False) if create_graph else zeros
        results.append(g)
    return results


def _walk(root: Value, seed: Any, create_graph: bool, wanted: set[int] | None) -> dict[int, Any]:
    """Propagate ``seed`` from ``root`` to every node, in reverse topological order.

    A node is processed once all of its consumers have been (their counts come
    in a first pass), so its gradient is complete when its VJP rules run.
    With ``wanted=None`` each node's gradient is accumulated into its ``.grad``;
    otherwise only the gradients of the wanted nodes are returned, by id.
    """
    if create_graph:
        return _walk_recorded(toposort(root), root, seed, wanted)
    token = _count_consumers(root)
    found: dict[int, Any] = {}
    stored: set[int] = set()  # ids of arrays already handed out as a .grad
    root._g = seed
    ready = [root]  # nodes whose consumers have all been processed: their gradient is complete
    pop, push = ready.pop, ready.append
    while ready:
        node = pop()
        g = node._g
        node._g = None
        op = node._op
        if wanted is not None:
            if id(node) in wanted:
                found[id(node)] = g
        elif node.grad is None:
            if type(g) is _ndarray:
                # A leaf's .grad must not alias another node's (users and
                # optimizers may change it in place); intermediates may share.
                if op is None and (g.base is not None or id(g) in stored):
                    g = g.copy()
                stored.add(id(g))
            node.grad = g
        else:
            old = node.grad
            node.grad = (old.data if isinstance(old, Value) else old) + g
        if op is None:
            continue
        out, args, a, b = node.data, node._args, node._a, node._b
        if a is None and b is None:  # n-ary: more than two inputs, parameters, or fused (see Value)
            inputs, raws, params = args  # type: ignore[misc]
            _propagate(op, inputs, g, out, raws, params, token, push)
            continue
        # The hot path, for ops of one or two inputs without parameters (all
        # of a scalar graph; fused ops and ops with parameters are n-ary, see
        # apply): direct rule calls, and _propagate's accumulation
        # written out for each input; a call per edge cost about 20% of a
        # scalar backward pass.
        rules = op.vjps
        try:
            if args is not None:  # two inputs, one of them a constant
                ad, bd = args
                c = None if a is None else rules[0](g, out, ad, bd)
            elif b is None:  # one input
                ad = a.data  # type: ignore[union-attr]
                c = rules[0](g, out, ad)
            else:
                ad, bd = a.data, b.data  # type: ignore[union-attr]
                c = rules[0](g, out, ad, bd)
        except (ZeroDivisionError, OverflowError):
            c = _rule_ieee(rules[0], g, out, (ad,) if b is None and args is None else (ad, bd), None)
        # A rule returns a Python float only for an input whose data is one
        # (see Op), so a float contribution needs no conforming.
        if a is not None:  # ad and bd are a's and b's data
            if type(c) is not float:
                c = _conform(c, ad)
            prev = a._g
            a._g = c if prev is token else prev + c
            left = a._count
            if left == 1:  # its last consumer: ready (the count is not read again)
                push(a)
            else:
                a._count = left - 1
        if b is not None:
            try:
                c = rules[1](g, out, ad, bd)
            except (ZeroDivisionError, OverflowError):
                c = _rule_ieee(rules[1], g, out, (ad, bd), None)
            if type(c) is not float:
                c = _conform(c, bd)
            prev = b._g
            b._g = c if prev is token else prev + c
            left = b._count
            if left == 1:  # its last consumer: ready (the count is not read again)
                push(b)
            else:
                b._count = left - 1
    return found


def _walk_recorded(order: list[Value], root: Value, seed: Any, wanted: set[int] | None) -> dict[int, Any]:
    """The same walk with Values instead of arrays, so the gradients have graphs."""
    from .grad_mode import enable_grad

    found: dict[int, Any] = {}
    with enable_grad():
        start = seed if isinstance(seed, Value) else Value(seed, requires_grad=False)
        pending: dict[int, Any] = {id(root): start}
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if wanted is not None:
                if id(node) in wanted:
                    found[id(node)] = g
            else:
                node.grad = g if node.grad is None else node.grad + g
            op = node._op
            if op is None:
                continue
            parents = node._input_values()
            raws = node._raw_inputs()
            args = tuple(a if p is None else p for p, a in zip(parents, raws, strict=True))
            for i, p in enumerate(parents):
                if p is None:
                    continue
                rule, params = op.vjps[i], node._op_params()
                c = rule(g, node, *args) if params is None else rule(g, node, *args, **params)
                if not isinstance(c, Value):
                    c = Value(_conform(c, p.data), requires_grad=False)
                if c.shape != p.shape:
                    c = c.sum_to(p.shape)
                if c.dtype != p.dtype:
                    c = c.astype(p.dtype)
                key = id(p)
                prev = pending.get(key)
                pending[key] = c if prev is None else prev + c
    return found
