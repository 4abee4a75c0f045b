"""The fast backward walk: :func:`tinygrad_nn.autograd.walk`'s order, without dicts.

The same Kahn order as the reference walk (the tests compare the bits), but:

* consumer counts and pending gradients live in two slots of each node
  (``_count``, ``_pending``) instead of dicts keyed by node, which dominated
  the walk on scalar graphs. A counting pass puts a fresh token in
  ``_pending`` of every node it counts ("counted, nothing received yet"),
  which tells this walk's nodes from stale ones an earlier or interrupted
  walk left behind;
* the walk runs as nodes become ready, without a separate sort;
* one- and two-input nodes (all of a scalar graph) take an unrolled hot
  path: direct rule calls and the accumulation written out per input (a
  call per edge cost about 20% of a scalar backward pass), and a Python
  float contribution for a float input is taken as final;
* fused ops run their shared stage once and their joint rule when it takes
  the case (``_fast/fused.py``); ops run their ``kernels``.

Two walks sharing nodes at the same time (threads) would corrupt each
other's scratch slots: the reference walk keeps its state in local dicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import value as _value
from ..autograd import call_rule, check_versions, toposort
from ..numerics import sum_to
from ..value import Value
from .fused import FusedOp
from .kernels import ndarray, sum_rows


def _count_consumers(root: Any) -> tuple[object, bool]:
    """Set ``_count`` on every node reachable from ``root`` through inputs that
    require grad (how many times it is an input inside that graph); return the
    token, and whether some node was recorded before the latest data change
    (then ``autograd.check_versions`` must look closer)."""
    token = object()
    root._pending = token
    root._count = 0
    stack = [root]
    pop, push = stack.pop, stack.append
    changes = _value._data_changes
    changed = False
    while stack:
        node = pop()
        if node._op is None:
            continue
        if node._stamp != changes:
            changed = True
        # Unrolled for the two input slots: a loop over (a, b) costs a third more.
        a = node._in0
        if a is not None:
            if a._pending is token:
                a._count += 1
            else:
                a._pending = token
                a._count = 1
                push(a)
        p = node._in1
        if p is not None:
            if p._pending is token:
                p._count += 1
            else:
                p._pending = token
                p._count = 1
                push(p)
        elif a is None:  # n-ary: its inputs lead _saved (see record.py)
            for p in node._saved[0]:
                if p is not None:
                    if p._pending is token:
                        p._count += 1
                    else:
                        p._pending = token
                        p._count = 1
                        if p._op is not None:  # a leaf has nothing to count (a layer's parameters)
                            push(p)
    return token, changed


def conform(c: Any, like: Any) -> Any:
    """:func:`tinygrad_nn.autograd.fit`, with the batch-axis case first."""
    if type(like) is float:
        if type(c) is float:
            return c
        return float(np.sum(c))
    if type(c) is not ndarray:
        c = np.asarray(c)
    if c.shape != like.shape:
        # A batch axis to sum out (the bias of a layer) is the usual case.
        c = sum_rows(c) if c.ndim == 2 and c.shape[1:] == like.shape else sum_to(c, like.shape)
    if c.dtype is not like.dtype and c.dtype != like.dtype:
        c = c.astype(like.dtype)
    return c


def _propagate(
    op: Any, parents: Any, g: Any, out: Any, args: Any, params: Any, token: object, push: Any
) -> None:
    """Send an n-ary node's gradient ``g`` to its inputs ``parents``; push those that are ready."""
    shaped = pieces = None  # every input's contribution at once: already fitted, or to fit
    if type(op) is FusedOp:
        if op.pre is not None:
            g = op.pre(g, out)  # the shared stage once (a Dense layer's δ)
        rules = op.inner
        if op.joint is not None:
            shaped = op.joint(g, parents, *args)  # or None: the case is left to the rules
    else:
        rules = op.kernels
        if op.split is not None:  # concatenate, stack: g cut into every input's piece
            pieces = op.split(g, out, args, **(params or {}))
    i = -1
    for p in parents:  # an index, not zip(): zip's strict= keyword alone costs ~0.2 µs
        i += 1
        if p is None:
            continue
        if shaped is not None:
            c = shaped[i]
        else:
            if pieces is not None:
                c = pieces[i]
            else:
                rule = rules[i]
                try:
                    c = rule(g, out, *args) if params is None else rule(g, out, *args, **params)
                except (ZeroDivisionError, OverflowError):
                    c = call_rule(rule, g, out, args, params or {})
            if type(c) is not float or type(p._data) is not float:
                c = conform(c, p._data)
        prev = p._pending
        p._pending = c if prev is token else prev + c
        left = p._count
        if left == 1:  # its last consumer: ready (the count is not read again)
            push(p)
        else:
            p._count = left - 1


def backward(root: Any, seed: Any) -> None:
    """Accumulate the gradients of ``root``'s graph into ``.grad``."""
    _walk(root, seed, None)


def gradients(root: Any, seed: Any, wanted: set[int]) -> dict[int, Any]:
    """The gradients of the nodes whose ids are ``wanted``, by id (no ``.grad`` changes)."""
    return _walk(root, seed, wanted)


def _walk(root: Any, seed: Any, wanted: set[int] | None) -> dict[int, Any]:
    token, changed = _count_consumers(root)
    if changed:
        check_versions(toposort(root))  # raises before any gradient is written
    found: dict[int, Any] = {}
    stored: set[int] = set()  # ids of arrays already handed out as a .grad
    root._pending = seed
    ready = [root]  # nodes whose consumers have all been processed: their gradient is complete
    pop, push = ready.pop, ready.append
    while ready:
        node = pop()
        g = node._pending
        node._pending = None
        op = node._op
        if wanted is not None:
            if id(node) in wanted:
                found[id(node)] = g
        elif node.grad is None:
            if type(g) is ndarray:
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
        out, saved, a, b = node._data, node._saved, node._in0, node._in1
        if a is None and b is None:  # n-ary (see record.py)
            inputs, raws, params = saved
            _propagate(op, inputs, g, out, raws, params, token, push)
            continue
        rules = op.kernels
        try:
            if saved is not None:  # two inputs, one of them a constant
                ad, bd = saved
                c = None if a is None else rules[0](g, out, ad, bd)
            elif b is None:  # one input
                ad = a._data
                c = rules[0](g, out, ad)
            else:
                ad, bd = a._data, b._data
                c = rules[0](g, out, ad, bd)
        except (ZeroDivisionError, OverflowError):
            c = call_rule(rules[0], g, out, (ad,) if b is None and saved is None else (ad, bd), {})
        # A float contribution for a float input needs no conforming. (Op's
        # contract says a rule returns a float only for a float input, but on
        # numpy 1.x a Python float times a numpy bool is a float: check both.)
        if a is not None:  # ad and bd are a's and b's data
            if type(c) is not float or type(ad) is not float:
                c = conform(c, ad)
            prev = a._pending
            a._pending = c if prev is token else prev + c
            left = a._count
            if left == 1:
                push(a)
            else:
                a._count = left - 1
        if b is not None:
            try:
                c = rules[1](g, out, ad, bd)
            except (ZeroDivisionError, OverflowError):
                c = call_rule(rules[1], g, out, (ad, bd), {})
            if type(c) is not float or type(bd) is not float:
                c = conform(c, bd)
            prev = b._pending
            b._pending = c if prev is token else prev + c
            left = b._count
            if left == 1:
                push(b)
            else:
                b._count = left - 1
    return found
