"""Forward mode: push tangents through a recorded graph, one JVP rule per op.

Reverse mode (:mod:`tinygrad_nn.autograd`) sends a cotangent from the output
back to the inputs through each op's VJP rules. Forward mode goes the other
way: given a tangent ``v`` for each input (a direction), it computes the
tangent of every node, in the order the nodes were made, ending with J v,
the directional derivative of the output. Each op has its own JVP rules
here, written from the op's mathematics and not from its VJP rules, so that
forward mode is a second, independent oracle for the derivatives: a wrong VJP
rule shows up as a disagreement uᵀ(J v) ≠ (Jᵀu)ᵀv (``gradcheck`` checks
that with ``modes=("rev", "fwd")``).

How it runs: the function is evaluated once on Values, which records the
graph as usual; :func:`push_tangents` then walks the recorded nodes in
topological order. A node's tangent is

    tangent(node) = post( Σ_i rule_i(tangent_i, out, *inputs, **params) )

summed over the inputs that carry a tangent (a constant, or a Value the
chosen inputs do not reach, carries none: its tangent is zero and its rule
is skipped). A rule returns anything that broadcasts to the output, as the
forward broadcasts its inputs; the walk then gives the sum the output's
shape and dtype. ``post`` is the chain rule of a fused op's activation
(``linear_sigmoid`` is σ applied to ``linear``). Ops of any number of inputs
(``concatenate``, ``stack``) have one rule for all their tangents instead.

Rules run on raw data only (floats and numpy arrays): forward mode is
first-order here. An op without a rule (a user's custom op, say) raises
:class:`NoJVPRule` naming it; :func:`defjvp` adds one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import numerics as num
from . import ops
from ._fast.record import inputs, op_params, saved
from .autograd import toposort
from .coerce import F64
from .value import Value

__all__ = ["JVPS", "JVPRule", "NoJVPRule", "as_tangent", "defjvp", "defjvp_variadic", "push_tangents"]


class JVPRule:
    """The tangent rules of one op.

    ``each[i](t, out, *inputs, **params)`` is input i's contribution to the
    output's tangent, given that input's tangent ``t``; ``post(t, out)``, if
    set, maps the summed contributions to the output's tangent. A variadic
    op has instead ``joint(ts, out, inputs, **params)``, with ``ts`` the list
    of every input's tangent (None for one that has none).
    """

    __slots__ = ("each", "joint", "post")

    def __init__(
        self,
        each: Sequence[Callable[..., Any]] = (),
        post: Callable[[Any, Any], Any] | None = None,
        joint: Callable[..., Any] | None = None,
    ) -> None:
        self.each, self.post, self.joint = tuple(each), post, joint


JVPS: dict[str, JVPRule] = {}
"""Every op's tangent rules, by op name (the names of :data:`tinygrad_nn.ops.OPS`)."""


def defjvp(name: str, *each: Callable[..., Any], post: Callable[[Any, Any], Any] | None = None) -> JVPRule:
    """Register the tangent rules of op ``name``: one per input, then an optional ``post``."""
    rule = JVPS[name] = JVPRule(each, post)
    return rule


def defjvp_variadic(name: str, joint: Callable[..., Any]) -> JVPRule:
    """Register the tangent rule of an op of any number of inputs: ``joint(ts, out, inputs, **params)``."""
    rule = JVPS[name] = JVPRule(joint=joint)
    return rule


class NoJVPRule(NotImplementedError):
    """Raised when forward mode meets an op it has no tangent rule for."""


# ---------------------------------------------------------------------------
# Rules too long for a lambda. Each is the op's derivative, applied to a tangent.
# ---------------------------------------------------------------------------


def _pow_jvp_base(t: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a^b)/da = b a^(b−1). Where b = 0, a^b is the constant 1: derivative 0, also
    # at a = 0 (PyTorch's convention), without evaluating 0^−1.
    if type(b) is float or type(b) is int:
        return t * 0.0 if b == 0 else t * (b * num.power(a, b - 1))
    bd = np.asarray(b)
    constant = bd == 0
    if not constant.any():
        return t * (b * num.power(a, b - 1))
    return t * np.where(constant, 0.0, bd * num.power(a, np.where(constant, 1.0, bd) - 1))


def _pow_jvp_exponent(t: Any, out: Any, a: Any, b: Any) -> Any:
    # d(a^b)/db = a^b log a for a > 0; 0 at a = 0 (0^b is 0 for every b > 0);
    # a^b is not real near a negative base for fractional b: nan.
    if type(a) is float or type(a) is int:
        return t * (out * (math.log(a) if a > 0 else (0.0 if a == 0 else math.nan)))
    ad = np.asarray(a)
    positive = ad > 0
    if positive.all():
        return t * (out * np.log(ad))
    safe_log = np.log(np.where(positive, ad, 1.0))
    return t * (out * np.where(positive, safe_log, np.where(ad == 0, 0.0, np.nan)))


def _max_jvp(t: Any, out: Any, x: Any, *, axis: Any, keepdims: bool) -> Any:
    # Where several elements tie for the maximum, the derivative taken is that of
    # their mean (the convention of torch.amax and of the reverse rule): the mean
    # of their tangents. Without ties, the tangent at the maximum.
    xd = np.asarray(x)
    tied = xd == np.max(xd, axis=axis, keepdims=True)
    total = np.sum(np.where(tied, t, 0.0), axis=axis, keepdims=keepdims)
    return total / np.sum(tied, axis=axis, keepdims=keepdims)


def _squared_error_jvp(sign: float) -> Callable[..., Any]:
    # d[scale Σ (p − y)²] = 2 scale Σ (p − y) ⊙ (dp − dy)
    def rule(t: Any, out: Any, p: Any, y: Any, scale: float) -> Any:
        return (sign * 2.0 * scale) * np.sum((p - y) * t)

    return rule


def _bce_jvp_p(t: Any, out: Any, p: Any, y: Any) -> Any:
    # ∂/∂p of −[y log p + (1 − y) log(1 − p)] = −y/p + (1 − y)/(1 − p) = (p − y) / (p(1 − p)),
    # with p(1 − p) floored at 1e-12 as PyTorch does (the convention ops.py documents: a
    # saturated, wrong prediction keeps a gradient instead of the clamped loss's 0).
    floor = max(ops._BCE_EPS, float(np.finfo(np.result_type(p)).tiny))
    return t * (p - y) / np.maximum(p * (1.0 - p), floor)


def _bce_jvp_y(t: Any, out: Any, p: Any, y: Any) -> Any:
    # ∂/∂y = log(1 − p) − log p, each log clamped at −100 as in the forward
    clog = ops._clamped_log
    return t * (clog(1.0 - p) - clog(p))


def _zeros_for(ts: Sequence[Any], xs: Sequence[Any], out: Any) -> list[Any]:
    dtype = np.result_type(out)
    return [np.zeros(np.shape(x), dtype) if t is None else t for t, x in zip(ts, xs, strict=True)]


def _concatenate_jvp(ts: Sequence[Any], out: Any, xs: Sequence[Any], axis: int) -> Any:
    return np.concatenate(_zeros_for(ts, xs, out), axis=axis)  # the tangents, joined as the inputs are


def _stack_jvp(ts: Sequence[Any], out: Any, xs: Sequence[Any], axis: int) -> Any:
    return np.stack(_zeros_for(ts, xs, out), axis=axis)


# The derivatives of the activations, from their outputs: applied after the
# ordinary op and after a fused Dense layer (whose node keeps no pre-activation).
def _d_tanh(t: Any, out: Any) -> Any:
    return t * (1.0 - out * out)  # tanh' = sech² = 1 − tanh²


def _d_sigmoid(t: Any, out: Any) -> Any:
    return t * (out * (1.0 - out))  # σ' = σ(1 − σ)


def _d_relu(t: Any, out: Any) -> Any:
    return t * (out > 0)  # relu'(x) = [x > 0], and out > 0 exactly when x > 0; relu'(0) = 0


# ---------------------------------------------------------------------------
# The table: one entry per op of ops.OPS, one rule per input, each with its formula.
# ---------------------------------------------------------------------------

defjvp("add", lambda t, out, a, b: t, lambda t, out, a, b: t)  # d(a + b) = da + db
defjvp("sub", lambda t, out, a, b: t, lambda t, out, a, b: -t)  # d(a − b) = da − db
defjvp("mul", lambda t, out, a, b: t * b, lambda t, out, a, b: a * t)  # d(ab) = b da + a db
defjvp("div", lambda t, out, a, b: t / b, lambda t, out, a, b: -t * out / b)  # d(a/b) = da/b − (a/b) db/b
defjvp("neg", lambda t, out, x: -t)  # d(−x) = −dx
defjvp("pow", _pow_jvp_base, _pow_jvp_exponent)  # d(a^b) = b a^(b−1) da + a^b log a db
defjvp("matmul", lambda t, out, a, b: t @ b, lambda t, out, a, b: a @ t)  # d(AB) = dA B + A dB

defjvp("exp", lambda t, out, x: t * out)  # d e^x = e^x dx
defjvp("log", lambda t, out, x: t / x)  # d log x = dx / x
defjvp("sqrt", lambda t, out, x: t / (2.0 * out))  # d √x = dx / (2√x)
defjvp("abs", lambda t, out, x: t * num.sign(x))  # d|x| = sign(x) dx, 0 at 0
defjvp("tanh", lambda t, out, x: _d_tanh(t, out))  # d tanh x = (1 − tanh² x) dx
defjvp("sigmoid", lambda t, out, x: _d_sigmoid(t, out))  # d σ(x) = σ(1 − σ) dx
defjvp("relu", lambda t, out, x: _d_relu(t, out))  # d relu(x) = [x > 0] dx
defjvp("leaky_relu",  # d leaky_relu(x) = dx where x > 0, slope · dx elsewhere
       lambda t, out, x, slope: t * np.where(np.asarray(x) > 0, 1.0, slope))  # fmt: skip
defjvp("softplus", lambda t, out, x: t * num.sigmoid(x))  # d log(1 + e^x) = σ(x) dx

defjvp("sum", lambda t, out, x, axis, keepdims: np.sum(t, axis=axis, keepdims=keepdims))  # d Σx = Σ dx
defjvp("mean", lambda t, out, x, axis, keepdims: num.reduce_mean(t, axis, keepdims))  # d mean x = mean dx
defjvp("max", _max_jvp)  # dx at the maximum (the mean over ties)
defjvp("softmax",  # ds = s ⊙ (dx − Σ s ⊙ dx)
       lambda t, out, x, axis: out * (t - np.sum(out * t, axis=axis, keepdims=True)))  # fmt: skip
defjvp("log_softmax",  # d(x − log Σ e^x) = dx − Σ softmax(x) ⊙ dx
       lambda t, out, x, axis: t - np.sum(np.exp(out) * t, axis=axis, keepdims=True))  # fmt: skip

# Linear maps of their input: the tangent goes through the op itself.
defjvp("reshape", lambda t, out, x, shape: np.reshape(t, shape))
defjvp("transpose", lambda t, out, x, axes: np.transpose(t, axes))
defjvp("broadcast_to", lambda t, out, x, shape: np.broadcast_to(t, shape))
defjvp("sum_to", lambda t, out, x, shape: num.sum_to(np.asarray(t), shape))
defjvp("getitem", lambda t, out, x, index: np.asarray(t)[index])
defjvp("scatter", lambda t, out, x, index, shape: num.scatter_raw(t, index, shape))
defjvp("astype", lambda t, out, x, dtype: np.asarray(t).astype(dtype))
defjvp("where",  # the tangent of the side each element was taken from
       lambda t, out, x, y, cond: np.where(cond, t, 0.0),
       lambda t, out, x, y, cond: np.where(cond, 0.0, t))  # fmt: skip
defjvp_variadic("concatenate", _concatenate_jvp)
defjvp_variadic("stack", _stack_jvp)

# Losses as single ops.
defjvp("squared_error", _squared_error_jvp(1.0), _squared_error_jvp(-1.0))
defjvp("binary_cross_entropy", _bce_jvp_p, _bce_jvp_y)

# The fast path's fused Dense layers: d(x @ w + b) = dx @ w + x @ dw + db, then the activation's chain rule.
_LINEAR = (lambda t, out, x, w, b: t @ w, lambda t, out, x, w, b: x @ t, lambda t, out, x, w, b: t)
defjvp("linear", *_LINEAR)
defjvp("linear_sigmoid", *_LINEAR, post=_d_sigmoid)
defjvp("linear_tanh", *_LINEAR, post=_d_tanh)
defjvp("linear_relu", *_LINEAR, post=_d_relu)


# ---------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------


def push_tangents(outputs: Sequence[Value], seeds: Sequence[tuple[Value, Any]]) -> list[Any]:
    """The tangent of each of ``outputs``, given the tangent of each seeded Value.

    ``seeds`` pairs Values of the recorded graph (usually its inputs) with
    their tangents: numbers or arrays of the Value's shape and dtype
    (checked, see :func:`as_tangent`). Every other leaf and constant has tangent
    zero, and a seeded Value's tangent is its seed whatever it was computed
    from. Returns raw data, one per output, of that output's shape and dtype
    (a Python float for a Python-float output): J v for the function from
    the seeded Values to the outputs. The graph must have been recorded (the
    seeds require grad) and its data not changed since.
    """
    tangents: dict[int, Any] = {}
    for k, (v, t) in enumerate(seeds):
        if not isinstance(v, Value):
            raise TypeError(f"push_tangents: seed {k} is a {type(v).__name__}, not a Value")
        if not v.requires_grad:
            raise ValueError(
                f"push_tangents: seed {k} (shape {v.shape}) does not require grad, so nothing "
                "recorded depends on it"
            )
        tangents[id(v)] = as_tangent(t, v.data, f"push_tangents: the tangent of seed {k}", f"seed {k}")
    for node in _order(outputs):
        if node._op is None or id(node) in tangents:
            continue
        ts = [None if p is None else tangents.get(id(p)) for p in inputs(node)]
        if any(t is not None for t in ts):
            tangents[id(node)] = node_tangent(node, ts)
    return [_result(tangents.get(id(o)), o.data) for o in outputs]


def _order(outputs: Sequence[Value]) -> list[Value]:
    """Every node the outputs depend on, each after its inputs (toposorts merged)."""
    seen: set[int] = set()
    order = []
    for o in outputs:
        for node in toposort(o):  # a node new here has its inputs earlier in this list or in seen
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
    return order


def node_tangent(node: Value, ts: Sequence[Any]) -> Any:
    """The tangent of a recorded ``node`` from its inputs' tangents (None: none), fitted to its data."""
    op = node._op
    assert op is not None
    rule = JVPS.get(op.name)
    if rule is None:
        raise NoJVPRule(
            f"forward mode: op {op.name!r} has no tangent (JVP) rule; forward mode covers the ops "
            "of tinygrad_nn.ops.OPS (add one with tinygrad_nn.forward_mode.defjvp)"
        )
    out, xs, params = node.data, saved(node), op_params(node)
    if rule.joint is not None:
        total = rule.joint(ts, out, xs, **params)
    else:
        total = None
        for i, t in enumerate(ts):
            if t is not None:
                c = _call(rule.each[i], t, out, xs, params)
                total = c if total is None else total + c
    if rule.post is not None:
        total = _call(rule.post, total, out, (), {})
    return _fit(total, out)


def _call(rule: Callable[..., Any], t: Any, out: Any, xs: Sequence[Any], params: dict[str, Any]) -> Any:
    try:
        return rule(t, out, *xs, **params)
    except (ZeroDivisionError, OverflowError):
        # Python floats raise where IEEE arithmetic gives inf or nan: redo the rule
        # on numpy scalars, which give those results (with numpy's warnings).
        return rule(*(np.float64(x) if type(x) is float else x for x in (t, out, *xs)), **params)


def _fit(t: Any, out: Any) -> Any:
    """A tangent with the shape and dtype of the data ``out`` it is the tangent of."""
    if type(out) is float:
        return t if type(t) is float else float(np.reshape(t, ()))
    t = np.asarray(t)
    if t.shape != out.shape:
        t = np.broadcast_to(t, out.shape)  # an input broadcast by the forward: its tangent too
    return t if t.dtype == out.dtype else t.astype(out.dtype)


def _result(t: Any, out: Any) -> Any:
    """An output's tangent as a fresh number or writable array (zeros for none)."""
    if type(out) is float:
        return 0.0 if t is None else t
    return np.zeros(out.shape, out.dtype) if t is None else np.array(t)


def as_tangent(t: Any, like: Any, who: str, what: str) -> Any:
    """``t`` checked and converted to a tangent (or cotangent) of the data ``like``.

    ``t`` is a number, an array-like or a Value. It must have ``like``'s
    shape; a floating ``t`` must have ``like``'s dtype too (no silent change of
    precision), while numbers and integer arrays are converted to it. Errors
    name ``who`` (the argument at fault) and ``what`` (the one it must match).
    Returns a copy: a Python float when ``like`` is one, else an array.
    """
    if isinstance(t, Value):
        t = t.data
    shape = () if type(like) is float else like.shape
    dtype = F64 if type(like) is float else like.dtype
    if type(t) is float or type(t) is int:
        if shape != ():
            raise ValueError(f"{who} is a number but {what} has shape {shape}; give an array of that shape")
        return float(t) if type(like) is float else np.array(t, dtype)
    try:
        arr = np.asarray(t)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{who} is not an array ({exc})") from None
    if arr.dtype.kind == "f" and arr.dtype != dtype:
        raise TypeError(f"{who} has dtype {arr.dtype} but {what} has dtype {dtype}; cast it (a tangent "
                        "has the dtype of its primal)")  # fmt: skip
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{who} must be a real number or array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{who} has shape {arr.shape} but {what} has shape {shape}")
    return float(arr) if type(like) is float else np.array(arr, dtype)
