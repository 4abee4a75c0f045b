"""The primitive operations: each one's forward and its derivative, side by side.

An :class:`Op` pairs a forward function on raw data (Python floats and numpy
arrays) with one vector-Jacobian product (VJP) rule per input. A rule receives
the upstream gradient ``g`` (dE/d out), the op's output ``out`` and its inputs,
and returns dE/d input = g · ∂out/∂input, *before* broadcasting is undone: the
engine sums each contribution back to its input's shape, so rules never think
about broadcasting.

Rules are written as their formulas, with operators and the polymorphic
helpers of :mod:`tinygrad_nn.numerics` (``exp``, ``log``, ``reshape`` …),
which accept floats, arrays *and* Values. The engine calls them with raw
arrays for an ordinary backward pass and with Values when
``backward(create_graph=True)`` asks for a differentiable gradient, so the
same rules give derivatives of any order. Masks such as ``x > 0`` are
computed from raw data: they are locally constant.

Adding an op means adding one ``defop`` entry here and, if it should be a
method, a one-line wrapper on :class:`~tinygrad_nn.value.Value`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import numerics as num
from .numerics import (
    broadcast_error,
    broadcast_to,
    exp,
    generic_error,
    getitem,
    is_raw,
    log,
    matmul_error,
    raw,
    reciprocal,
    reduced_count,
    reshape,
    scatter,
    shape_of,
    sign,
    sum_to,
    swap_last,
    transpose,
    unreduce,
    where,
)

Rule = Callable[..., Any]


class Op:
    """A differentiable primitive: ``forward(*raw_inputs, **params)`` and its VJP rules.

    ``vjps[i](g, out, *inputs, **params)`` returns the gradient for input
    ``i``: anything that broadcasts to the input (the engine sums it down to
    the input's shape and casts it to its dtype), but a Python float only
    when the input itself is one.

    Ops of any number of inputs (``concatenate``, ``stack``) have instead one
    rule for all of them, ``split(g, out, inputs, **params)``, which returns
    the list of every input's gradient: cutting g into its pieces once keeps
    the backward pass linear in the number of inputs. (``vjps[i]`` still
    works for them, one input at a time.)

    ``kernels`` are the rules the fast path calls: ``vjps`` itself, unless
    ``tinygrad_nn/_fast/kernels.py`` installs a kernel that computes the same
    numbers, bit for bit, with fewer temporaries.
    """

    __slots__ = ("describe_error", "forward", "kernels", "name", "split", "vjps")

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        vjps: Sequence[Rule],
        describe_error: Callable[..., str] | None = None,
        split: Callable[..., list[Any]] | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjps: Sequence[Rule] = tuple(vjps) if split is None else _EachInput(split)
        self.kernels: Sequence[Rule] = self.vjps
        self.describe_error = describe_error or generic_error
        self.split = split

    def __repr__(self) -> str:
        return f"<op {self.name}>"


class _EachInput(Sequence[Rule]):
    """The per-input rules of an op with a ``split`` rule: input i's piece of it."""

    def __init__(self, split: Callable[..., list[Any]]) -> None:
        self._split = split

    def __getitem__(self, i: Any) -> Any:
        split = self._split
        return lambda g, out, *xs, **params: split(g, out, xs, **params)[i]

    def __len__(self) -> int:
        raise TypeError("a variadic op has one rule per input, however many there are")


OPS: dict[str, Op] = {}
"""Every op by name: the table below, and the fast path's fused ops."""


def defop(name: str, forward: Callable[..., Any], *vjps: Rule, error: Callable[..., str] | None = None) -> Op:
    """Create an op, register it in :data:`OPS` under ``name`` and return it."""
    op = Op(name, forward, vjps, error)
    OPS[name] = op
    return op


def defop_variadic(name: str, forward: Callable[..., Any], split: Callable[..., list[Any]]) -> Op:
    """An op of any number of inputs, with one rule that returns every input's gradient."""
    op = Op(name, forward, (), generic_error, split)
    OPS[name] = op
    return op


# ---------------------------------------------------------------------------
# VJP rules too long for a lambda in the table
# ---------------------------------------------------------------------------


def _matmul_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 2 and nb == 2:
        return g @ b.T  # ∂E/∂O_i = Σ_j δ_j W_ij: the layer below's δ before its g′
    if nb == 1:  # out = a @ b dropped a's last axis: put it back
        return reshape(g, (*shape_of(g), 1)) * b
    gg = reshape(g, (*shape_of(g)[:-1], 1, shape_of(g)[-1])) if na == 1 else g
    return gg @ swap_last(b)  # for 1-d a, sum_to collapses the leftover axes


def _matmul_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 2 and nb == 2:
        return a.T @ g  # ∂E/∂W_ij = Σ_batch O_i δ_j
    if na == 1:  # out = a @ b dropped b's second-to-last axis: put it back
        if nb == 1:
            return a * g
        gg = reshape(g, (*shape_of(g)[:-1], 1, shape_of(g)[-1]))
        return reshape(a, (shape_of(a)[0], 1)) * gg
    gg = reshape(g, (*shape_of(g), 1)) if nb == 1 else g
    r = swap_last(a) @ gg
    return reshape(r, shape_of(r)[:-1]) if nb == 1 else r


def _pow_vjp_base(g: Any, out: Any, a: Any, b: Any) -> Any:
    # d a^b / da = b a^(b-1). At a = b = 0 that is 0 · 0^-1: taken as 0 (a^0 is
    # constant; PyTorch's convention), computed as 0 · 0^0 so that 0^-1 is never
    # evaluated. num.power gives nan, not a complex number, for a negative float
    # base and a fractional exponent.
    if (type(b) is float or type(b) is int) and b != 0:
        lowered = b - 1  # the usual case: a constant exponent, such as x ** 2
    else:
        both_zero = (np.asarray(raw(b)) == 0) & (np.asarray(raw(a)) == 0)
        lowered = (where(both_zero, 1.0, b) if both_zero.any() else b) - 1
    return g * b * num.power(a, lowered)


def _pow_vjp_exponent(g: Any, out: Any, a: Any, b: Any) -> Any:
    # d a^b / db = a^b log a, defined for a > 0; 0 at a == 0 (as PyTorch); nan for a < 0.
    positive = np.asarray(raw(a)) > 0
    if positive.all():
        return g * out * log(a)
    safe_log = log(where(positive, a, 1.0))
    fallback = np.where(np.asarray(raw(a)) == 0, 0.0, np.nan)
    return g * out * where(positive, safe_log, fallback)


def _max_vjp(g: Any, out: Any, x: Any, *, axis: Any, keepdims: bool) -> Any:
    # Ties share the gradient equally (as torch.amax does): the derivative of
    # the mean of the tied maxima.
    xd = np.asarray(raw(x))
    mask = xd == np.max(xd, axis=axis, keepdims=True)
    share = mask / np.sum(mask, axis=axis, keepdims=True)
    return unreduce(g, x, axis) * share


def _concat_split(g: Any, out: Any, xs: Sequence[Any], axis: int) -> list[Any]:
    # Each input's gradient is its own stretch of g along the axis.
    pieces, start = [], 0
    for x in xs:
        stop = start + shape_of(x)[axis]
        pieces.append(getitem(g, (slice(None),) * axis + (slice(start, stop),)))
        start = stop
    return pieces


def _stack_split(g: Any, out: Any, xs: Sequence[Any], axis: int) -> list[Any]:
    return [getitem(g, (slice(None),) * axis + (i,)) for i in range(len(xs))]


def _sigmoid_of(x: Any) -> Any:
    """σ(x) for raw data, or as a recorded op on a Value (for create_graph)."""
    return num.sigmoid(x) if is_raw(x) else x.sigmoid()


# ---------------------------------------------------------------------------
# The table. Each entry: name, forward, then one VJP rule per input.
# ---------------------------------------------------------------------------

ADD = defop("add", operator.add,
            lambda g, out, a, b: g,
            lambda g, out, a, b: g,
            error=broadcast_error)  # fmt: skip
SUB = defop("sub", operator.sub,
            lambda g, out, a, b: g,
            lambda g, out, a, b: -g,
            error=broadcast_error)  # fmt: skip
MUL = defop("mul", operator.mul,
            lambda g, out, a, b: g * b,
            lambda g, out, a, b: g * a,
            error=broadcast_error)  # fmt: skip
DIV = defop("div", num.div,
            lambda g, out, a, b: g / b,
            lambda g, out, a, b: -g * out / b,
            error=broadcast_error)  # fmt: skip
NEG = defop("neg", operator.neg,
            lambda g, out, a: -g)  # fmt: skip
POW = defop("pow", num.power,
            _pow_vjp_base,
            _pow_vjp_exponent,
            error=broadcast_error)  # fmt: skip
MATMUL = defop("matmul", operator.matmul,
               _matmul_vjp_a,
               _matmul_vjp_b,
               error=matmul_error)  # fmt: skip

EXP = defop("exp", exp, lambda g, out, x: g * out)
LOG = defop("log", log, lambda g, out, x: g / x)
SQRT = defop("sqrt", num.sqrt, lambda g, out, x: g / (2.0 * out))
ABS = defop("abs", abs, lambda g, out, x: g * sign(x))  # abs'(0) = 0
# tanh' = 1 − tanh², σ' = σ(1 − σ): both from the saved output. (The fast
# path computes these two in one buffer: _fast/kernels.py.)
TANH = defop("tanh", num.tanh, lambda g, out, x: g * (1.0 - out * out))
SIGMOID = defop("sigmoid", num.sigmoid, lambda g, out, x: g * (out * (1.0 - out)))
RELU = defop("relu", num.relu, lambda g, out, x: g * (raw(out) > 0))  # relu'(0) = 0; out > 0 iff x > 0
LEAKY_RELU = defop("leaky_relu", num.leaky_relu,
                   lambda g, out, x, slope: g * np.where(raw(x) > 0, 1.0, slope))  # fmt: skip
# softplus' = σ(x), from x itself (1 − e^−out would lose all precision for x << 0).
SOFTPLUS = defop("softplus", num.softplus, lambda g, out, x: g * _sigmoid_of(x))

SUM = defop("sum", num.reduce_sum,
            lambda g, out, x, axis, keepdims: unreduce(g, x, axis))  # fmt: skip
MEAN = defop("mean", num.reduce_mean,
             lambda g, out, x, axis, keepdims:
                 unreduce(g, x, axis) * reciprocal(reduced_count(shape_of(x), axis)))  # fmt: skip
MAX = defop("max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), _max_vjp)
SOFTMAX = defop("softmax", num.softmax,
                lambda g, out, x, axis: out * (g - (g * out).sum(axis=axis, keepdims=True)))  # fmt: skip
LOG_SOFTMAX = defop("log_softmax", num.log_softmax,
                    lambda g, out, x, axis: g - exp(out) * g.sum(axis=axis, keepdims=True))  # fmt: skip

RESHAPE = defop("reshape", lambda x, shape: np.reshape(x, shape),
                lambda g, out, x, shape: reshape(g, shape_of(x)))  # fmt: skip
TRANSPOSE = defop("transpose", lambda x, axes: np.transpose(x, axes),
                  lambda g, out, x, axes:
                      transpose(g, None if axes is None else tuple(np.argsort(axes))))  # fmt: skip
BROADCAST_TO = defop("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                     lambda g, out, x, shape: sum_to(g, shape_of(x)),
                     error=broadcast_error)  # fmt: skip
SUM_TO = defop("sum_to", lambda x, shape: sum_to(x, shape),
               lambda g, out, x, shape: broadcast_to(g, shape_of(x)))  # fmt: skip
GETITEM = defop("getitem", lambda x, index: np.asarray(x)[index],
                lambda g, out, x, index: scatter(g, index, shape_of(x)))  # fmt: skip
SCATTER = defop("scatter", num.scatter_raw,
                lambda g, out, x, index, shape: getitem(g, index))  # fmt: skip
ASTYPE = defop("astype", lambda x, dtype: np.asarray(x).astype(dtype),
               lambda g, out, x, dtype: num.astype(g, np.asarray(raw(x)).dtype))  # fmt: skip
WHERE = defop("where", lambda x, y, cond: np.where(cond, x, y),
              lambda g, out, x, y, cond: where(cond, g, 0.0),
              lambda g, out, x, y, cond: where(cond, 0.0, g),
              error=broadcast_error)  # fmt: skip
CONCATENATE = defop_variadic("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), _concat_split)
STACK = defop_variadic("stack", lambda *xs, axis: np.stack(xs, axis=axis), _stack_split)


# --- losses as single ops ---------------------------------------------------

# scale · Σ (p − t)² (the sse loss has scale ½, mse 1/n); ∂/∂p = 2·scale·(p − t).
# (The fast path writes each gradient into the fresh p − t: _fast/kernels.py.)
SQUARED_ERROR = defop("squared_error", num.squared_error,
                      lambda g, out, p, t, scale: (g * (2.0 * scale)) * (p - t),
                      lambda g, out, p, t, scale: (g * (-2.0 * scale)) * (p - t),
                      error=broadcast_error)  # fmt: skip


# Binary cross-entropy on probabilities, elementwise: −[t log p + (1 − t) log(1 − p)],
# each log clamped at −100 as PyTorch does. Its p-derivative is taken as
# (p − t) / max(p(1 − p), 1e-12), PyTorch's rule too: the exact derivative of the
# clamped loss would be 0 where a prediction is saturated and wrong (p = 0, t = 1),
# leaving nothing to pull it back.
_LOG_FLOOR = -100.0
_LOG_FLOOR_ARG = math.exp(_LOG_FLOOR)
_BCE_EPS = 1e-12


def _clamped_log(x: Any) -> Any:
    """max(log x, −100) for x ≥ 0, never evaluating log(0)."""
    keep = np.asarray(raw(x)) > _LOG_FLOOR_ARG
    if keep.all():
        return log(x)
    return where(keep, log(where(keep, x, 1.0)), _LOG_FLOOR)


def _bce(p: Any, t: Any) -> Any:
    return 0.0 - (t * _clamped_log(p) + (1.0 - t) * _clamped_log(1.0 - p))  # 0.0 − x: no −0


def _bce_vjp_p(g: Any, out: Any, p: Any, t: Any) -> Any:
    spread = p * (1.0 - p)
    # The floor must be a positive number of p's dtype: 1e-12 is 0 in float16.
    eps = max(_BCE_EPS, float(np.finfo(np.result_type(raw(p))).tiny))
    tiny = np.asarray(raw(spread)) < eps
    if tiny.any():
        spread = where(tiny, eps, spread)
    return g * (p - t) / spread


BINARY_CROSS_ENTROPY = defop("binary_cross_entropy", _bce,
                             _bce_vjp_p,
                             lambda g, out, p, t: g * (_clamped_log(1.0 - p) - _clamped_log(p)),
                             error=broadcast_error)  # fmt: skip
