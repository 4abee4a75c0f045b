""":func:`tinygrad_nn.value.apply`, unrolled for the three hottest shapes of call.

* :func:`binary_operator` builds Value's ``a + b``, ``a * b``, ``a @ b``, …
  one per operator, with the op and its forward at hand: one Python call
  per operation instead of a method calling ``apply`` (which loops over
  arbitrary operands and builds lists).
* :func:`unary_method` does the same for the parameter-free elementwise
  methods (``exp``, ``tanh``, ``sigmoid``, …).
* :func:`apply_layer` records a Dense layer's ``op(x, w, b)`` node.

Each produces exactly the node ``apply`` would (same data, same record;
``tests/test_fast_equivalence.py`` compares them), writing the packing of
``_fast/record.py`` inline. One difference: a constant result leaves the
record slots unset rather than None (nothing reads them on a node without an
op), which saves their writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import grad_mode
from .. import value as _value
from ..coerce import LEGACY_PROMOTION, as_data, constant, weak_float
from ..ops import Op
from ..value import Value, new_value, refused
from .kernels import ndarray

_alloc = object.__new__
# Recording is on where no thread has turned it off, or this thread has it on
# (grad_mode.py): the common case needs no thread-local lookup.


def _ieee(op: Op, raws: tuple[Any, ...]) -> Any:
    return op.forward(*(np.float64(r) if type(r) is float else r for r in raws))


def binary_operator(op: Op, reflected: bool = False) -> Callable[[Value, Any], Value]:
    """Value's operator method for the parameter-free binary ``op``: ``self op other``,
    or ``other op self`` when ``reflected`` (``__radd__`` and friends)."""
    forward = op.forward

    def method(self: Value, other: Any) -> Value:
        ad = self._data  # self is a Value: only the other operand needs a look
        pa = self if self.requires_grad else None
        if type(other) is Value or isinstance(other, Value):
            bd = other._data
            pb = other if other.requires_grad else None
        else:
            bd = other if type(other) is float else constant(other, op.name)
            pb = None
        if reflected:  # other op self
            ad, bd = bd, ad
            pa, pb = pb, pa
        if LEGACY_PROMOTION and (type(ad) is float) is not (type(bd) is float):
            ad, bd = weak_float(ad, bd)
        try:
            out = forward(ad, bd)
        except (ValueError, IndexError) as exc:
            raise refused(op, exc, (ad, bd), {}) from None
        except (ZeroDivisionError, OverflowError):
            out = _ieee(op, (ad, bd))
        t = type(out)
        if t is not float and (t is not ndarray or out.ndim == 0):
            out = as_data(out)
        v = _alloc(Value)
        v._data = out
        v._version = 0
        v.grad = None
        v._pending = None
        if (pa is not None or pb is not None) and (grad_mode._threads_off == 0 or grad_mode._mode.enabled):
            v.requires_grad = True
            v._op = op
            v._stamp = _value._data_changes
            v._in0 = pa
            v._in1 = pb
            # When both inputs are recorded Values their data is reachable through
            # them: no tuple for the garbage collector to track.
            v._saved = None if pa is not None and pb is not None else (ad, bd)
        else:
            v.requires_grad = False
            v._op = None
        return v

    return method


def unary_method(op: Op) -> Callable[[Value], Value]:
    """Value's method for the parameter-free unary ``op`` (``v.exp()``, ``-v``, ...)."""
    forward = op.forward

    def method(self: Value) -> Value:
        ad = self._data
        try:
            out = forward(ad)
        except (ZeroDivisionError, OverflowError):
            out = _ieee(op, (ad,))
        t = type(out)
        if t is not float and (t is not ndarray or out.ndim == 0):
            out = as_data(out)
        v = _alloc(Value)
        v._data = out
        v._version = 0
        v.grad = None
        v._pending = None
        if self.requires_grad and (grad_mode._threads_off == 0 or grad_mode._mode.enabled):
            v.requires_grad = True
            v._op = op
            v._stamp = _value._data_changes
            v._in0 = self
            v._in1 = v._saved = None  # the raw input is self.data
        else:
            v.requires_grad = False
            v._op = None
        return v

    return method


def apply_layer(op: Op, x: Any, w: Value, b: Value) -> Value:
    """``apply(op, x, w, b)`` for a layer: ``w`` and ``b`` are Values holding
    arrays (a Dense layer's parameters), ``x`` a Value or an ndarray (checked by the layer)."""
    if type(x) is Value or isinstance(x, Value):
        xd = x._data
        px = x if x.requires_grad else None
    else:
        xd, px = x, None
    wd, bd = w._data, b._data
    try:
        out = op.forward(xd, wd, bd)
    except (ValueError, IndexError) as exc:
        raise refused(op, exc, (xd, wd, bd), {}) from None
    v = new_value(out if type(out) is ndarray and out.ndim else as_data(out))
    pw = w if w.requires_grad else None
    pb = b if b.requires_grad else None
    if (px is not None or pw is not None or pb is not None) and (
        grad_mode._threads_off == 0 or grad_mode._mode.enabled
    ):
        v.requires_grad = True
        v._op = op
        v._stamp = _value._data_changes
        v._in0 = v._in1 = None
        v._saved = ((px, pw, pb), (xd, wd, bd), None)
    return v
