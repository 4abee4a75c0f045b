"""How a recorded Value keeps its record: written here, read through four functions.

A recorded node remembers the op that made it, the Values its gradient goes
to (None for a constant input), the raw inputs its VJP rules read, the
op's parameters, and when it was recorded. Conceptually that is
``(op, inputs, saved, params, stamp)``; it is packed into five slots of
the Value so that a node of a scalar graph is one object for the garbage
collector instead of two or three:

``_op``
    the :class:`~tinygrad_nn.ops.Op` (None on leaves and constants);
``_in0``, ``_in1``
    the inputs of a parameter-free op of one or two inputs with a rule per
    input: a Value that receives a gradient, or None for a constant
    (``_in1`` is None for a unary op). Both None: an n-ary node (below);
``_saved``
    None when every input is a recorded Value (the raw inputs are their
    ``.data``); the tuple of raw inputs when one is a constant; on an n-ary
    node (three or more inputs, parameters, or one rule for all inputs:
    ``Op.split``) the triple
    ``(inputs, raw inputs, params or None)``;
``_stamp``
    the count of data changes (:func:`tinygrad_nn.value.data_changes`) when
    the node was recorded: ``backward`` refuses to run a rule whose data
    was assigned after that (``autograd.check_versions``).

:func:`record` is the only writer (the fast path's unrolled ``apply``
variants in ``_fast/apply.py`` write the same packing inline, and the
equivalence tests compare their records with this one's); :func:`inputs`,
:func:`saved` and :func:`op_params` are the readers every walker uses, except
the fast walk (``_fast/walk.py``), which reads the slots directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def record(
    v: Any, op: Any, inputs: Sequence[Any], raws: Sequence[Any], params: dict[str, Any], stamp: int
) -> None:
    """Make ``v`` the recorded result of ``op`` applied to ``inputs`` (raw data ``raws``)
    when the count of data changes was ``stamp``."""
    v.requires_grad = True
    v._op = op
    v._stamp = stamp
    if len(inputs) <= 2 and not params and op.split is None:
        v._in0 = inputs[0]
        v._in1 = inputs[1] if len(inputs) == 2 else None
        v._saved = None if all(p is not None for p in inputs) else tuple(raws)
    else:
        v._in0 = v._in1 = None
        v._saved = (tuple(inputs), tuple(raws), params or None)


def _is_nary(v: Any) -> bool:
    return v._in0 is None and v._in1 is None


def inputs(v: Any) -> tuple[Any, ...]:
    """A recorded node's inputs in order: the Value for each input that
    receives a gradient, None for each constant."""
    if _is_nary(v):
        return v._saved[0]
    if v._in1 is None and v._saved is None:  # all inputs recorded, no second one: unary
        return (v._in0,)
    return (v._in0, v._in1)


def saved(v: Any) -> tuple[Any, ...]:
    """The raw inputs a recorded node's op was applied to (its VJP rules' inputs).

    Where every input is a recorded Value they are read from those Values'
    ``.data`` (``backward`` checks first that none was assigned since).
    """
    if v._saved is None:
        return tuple(p.data for p in inputs(v))
    return v._saved[1] if _is_nary(v) else v._saved


def op_params(v: Any) -> dict[str, Any]:
    """A recorded node's op parameters (axis, shape, ...), empty when it has none."""
    return (v._saved[2] or {}) if _is_nary(v) else {}
