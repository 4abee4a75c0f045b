"""Has anything a node's gradient rules will read changed since the forward pass?

A VJP rule reads the op's output and some of its inputs (``mul``'s rule for
``a`` reads ``b``; ``tanh``'s reads its output; ``add``'s reads nothing).
For an input that is a recorded Value, the rule reads that Value's ``.data``
as it is when ``backward`` runs. If it was assigned in between (an optimizer
step before ``loss.backward()``, ``b.data += 1``), the gradient would mix the
old forward pass with new numbers, silently.

So every assignment to ``.data`` is counted (:func:`tinygrad_nn.value.data_changes`):
a Value's ``_version`` is that count at its last assignment, a recorded
node's ``_stamp`` the count when it was recorded. :func:`check_versions`
runs before a backward pass writes anything, and raises if some rule that
will run reads data whose ``_version`` is above its node's ``_stamp``.

What a rule reads is taken from the rule itself (:func:`positions_read`):
the parameters that its code loads. A rule can say it instead with a
``reads`` attribute, as the fast path's composed rules do. A rule that
reads only a Value's shape counts as reading it.

Constants are not Values and have no version: ``value.py`` copies the
index arrays and masks an op keeps; a numpy array mixed in as a constant
(``x * c``) is kept as it is, so changing it in place before ``backward``
goes unnoticed (as with ``torch.from_numpy``).
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Iterable
from typing import Any

from ._fast.record import inputs
from .value import Value

__all__ = ["check_versions", "positions_read"]


def positions_read(rule: Any, n_inputs: int, split: bool = False) -> tuple[int, ...] | None:
    """Which of the op's output and inputs ``rule`` reads, as positions: 0 is the
    output, k is input k - 1. None when that cannot be told (not a Python
    function, or one taking ``*args``): then it may read anything.

    ``rule`` is a VJP rule ``(g, out, x0, x1, ..., **params)``, or with
    ``split`` a split rule ``(g, out, xs, **params)`` (``xs``: all inputs).
    """
    declared = getattr(rule, "reads", None)
    if declared is not None:
        return tuple(declared)
    code = getattr(rule, "__code__", None)
    if code is None or code.co_flags & inspect.CO_VARARGS:
        return None
    positional = code.co_varnames[: code.co_argcount]
    loaded = set(code.co_cellvars)  # read by a nested function or comprehension
    for ins in dis.get_instructions(code):
        if ins.opname.startswith("LOAD_FAST") or ins.opname == "LOAD_DEREF":
            names = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)  # 3.13 pairs loads
            loaded.update(names)
    if split:
        out, xs = positional[1:3]
        return ((0,) if out in loaded else ()) + (tuple(range(1, n_inputs + 1)) if xs in loaded else ())
    return tuple(k for k, name in enumerate(positional[1 : 2 + n_inputs]) if name in loaded)


def _positions_read(op: Any, i: int, n_inputs: int) -> tuple[int, ...]:
    """What the rule for input ``i`` of ``op`` reads (see :func:`positions_read`);
    everything when that cannot be told. Worked out once per rule."""
    split = op.split is not None
    rule = op.split if split else op.vjps[i]
    if getattr(rule, "reads", None) is not None:  # declared (a Function's rule, made per call): no caching
        return tuple(rule.reads)
    key = (rule, n_inputs if split else None)
    if key not in _READS:
        _READS[key] = positions_read(rule, n_inputs, split)
    positions = _READS[key]
    return tuple(range(n_inputs + 1)) if positions is None else positions


_READS: dict[tuple[Any, int | None], tuple[int, ...] | None] = {}


def check_versions(nodes: Iterable[Value]) -> None:
    """Raise ``RuntimeError`` if a rule that a backward pass through ``nodes`` will
    run reads a Value whose data was assigned after the rule's node was recorded."""
    for node in nodes:
        op = node._op
        if op is None:
            continue
        ins = inputs(node)
        values = (node, *ins)  # what positions 0, 1, 2, ... of _positions_read refer to
        for i, p in enumerate(ins):
            if p is None:
                continue  # a constant: its rule does not run
            for k in _positions_read(op, i, len(ins)):
                v = values[k]
                if v is not None and v._version > node._stamp:
                    raise RuntimeError(_message(node, v, k))


def _message(node: Value, changed: Value, position: int) -> str:
    assert node._op is not None
    op = node._op.name
    if position == 0:
        what = f"its own output (shape {changed.shape}), whose .data was assigned after {op} computed it"
    else:
        name = getattr(changed, "_parameter", None)
        who = f"parameter {name!r}, " if isinstance(name, str) else "a Parameter, " if name else ""
        what = (
            f"the data of its input {position - 1} ({who}shape {changed.shape}), which was assigned "
            f"after {op} used it in the forward pass"
        )
    return (
        f"backward: op {op!r} needs {what} (an optimizer step, or v.data = ... / v.data += ...), "
        f"so the gradient would mix old and new numbers. Call backward() before changing the data, "
        f"or run the forward pass again. No .grad was changed."
    )
