"""The primitive operations: each one's forward and its derivative, side by side.

An :class:`Op` pairs a forward function on raw data (Python floats and numpy
arrays) with one vector-Jacobian product (VJP) rule per input. A rule receives
the upstream gradient ``g`` (dE/d out), the op's output ``out`` and its inputs,
and returns dE/d input = g · ∂out/∂input, *before* broadcasting is undone: the
engine sums each contribution back to its input's shape, so rules never think
about broadcasting.

Rules are written with operators and the polymorphic helpers below (``exp``,
``log``, ``reshape``, ``broadcast_to`` …), which accept floats, arrays *and*
Values. The engine calls them with raw arrays for an ordinary backward pass
(fast, nothing recorded) and with Values when ``backward(create_graph=True)``
asks for a differentiable gradient, so the same rules give derivatives of any
order. Masks such as ``x > 0`` are computed from raw data: they are locally
constant.

Adding an op means adding one ``defop`` entry here and, if it should be a
method, a one-line wrapper on :class:`~tinygrad_nn.value.Value`.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Rule = Callable[..., Any]


class Op:
    """A differentiable primitive: ``forward(*raw_inputs, **params)`` and VJP rules.

    ``vjps[i](g, out, *inputs, **params)`` returns the gradient for input ``i``:
    anything that broadcasts to the input (the engine sums it down to the
    input's shape and casts it to its dtype), but a Python float only when
    the input itself is one (the backward pass takes a float as final).
    Variadic ops (``concatenate``, ``stack``) give one rule that also takes the
    input's position first: ``rule(i, g, out, *inputs, **params)``.

    A fused op (:func:`fuse`) also has a stage shared by all its inputs:
    ``pre(g, out)`` turns g into the gradient of the inner op's output once
    per node, and ``inner[i]`` takes it from there; ``vjps[i]`` is the two
    composed, for callers that want one input's rule on its own.

    ``joint``, when set (parameter-free ops only), is an optional shortcut
    for the backward pass: ``joint(g, wanted, *inputs)`` (g after ``pre``)
    returns every input's gradient at once, each already of its input's
    shape and dtype (None for inputs whose ``wanted`` entry is None), or None
    to leave the case to the per-input rules.
    """

    __slots__ = ("name", "forward", "vjps", "describe_error", "variadic", "pre", "inner", "joint")

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        vjps: Sequence[Rule],
        describe_error: Callable[..., str] | None = None,
        variadic: bool = False,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjps: Sequence[Rule] = _EachInput(vjps[0]) if variadic else tuple(vjps)
        self.describe_error = describe_error
        self.variadic = variadic
        self.pre: Callable[[Any, Any], Any] | None = None
        self.inner: Sequence[Rule] = self.vjps
        self.joint: Callable[..., Any] | None = None

    def rule(self, i: int) -> Rule:
        """The VJP rule for input ``i``."""
        return self.vjps[i]

    def __repr__(self) -> str:
        return f"<op {self.name}>"


class _EachInput(Sequence[Rule]):
    """The VJP rules of a variadic op: input ``i``'s rule is ``rule(i, ...)``."""

    def __init__(self, rule: Rule) -> None:
        self._rule = rule

    def __getitem__(self, i: Any) -> Any:
        rule = self._rule
        return lambda *args, **params: rule(i, *args, **params)

    def __len__(self) -> int:
        raise TypeError("a variadic op has one rule per input, however many there are")


OPS: dict[str, Op] = {}


def defop(
    name: str,
    forward: Callable[..., Any],
    *vjps: Rule,
    error: Callable[..., str] | None = None,
    variadic: bool = False,
) -> Op:
    """Create an op, register it in :data:`OPS` under ``name`` and return it."""
    op = Op(name, forward, vjps, error, variadic)
    OPS[name] = op
    return op


# ---------------------------------------------------------------------------
# Polymorphic helpers: float | ndarray | Value in, same kind out.
# A Value is anything that is neither a float nor a numpy object; it is
# handled through its methods, so this module never imports Value.
# ---------------------------------------------------------------------------


def _is_raw(x: Any) -> bool:
    return type(x) is float or isinstance(x, (np.ndarray, np.generic, int))


def raw(x: Any) -> Any:
    """The numeric data behind ``x`` (a Value's ``.data``; raw data itself)."""
    return x if _is_raw(x) else x.data


def shape_of(x: Any) -> tuple[int, ...]:
    return () if type(x) is float or type(x) is int else x.shape


def exp(x: Any) -> Any:
    if type(x) is float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf
    if _is_raw(x):
        with np.errstate(over="ignore"):  # exp(1000) is inf, as in IEEE; no warning
            return np.exp(x)
    return x.exp()


def log(x: Any) -> Any:
    if type(x) is float:
        if x > 0.0:
            return math.log(x)
        return -math.inf if x == 0.0 else _invalid("log")
    if _is_raw(x):
        with np.errstate(divide="ignore"):  # log(0) = -inf without a warning
            return np.log(x)
    return x.log()


def sign(x: Any) -> Any:
    """Sign of the raw data (0 at 0): a constant, never recorded."""
    x = raw(x)
    if type(x) is float:
        return float((x > 0.0) - (x < 0.0))
    return np.sign(x)


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    if _is_raw(x):
        return np.reshape(x, shape)
    return x.reshape(shape)


def transpose(x: Any, axes: tuple[int, ...] | None) -> Any:
    if _is_raw(x):
        return np.transpose(x, axes)
    return x.transpose(axes)


def swap_last(x: Any) -> Any:
    """Swap the last two axes (the matrix transpose of a stack of matrices)."""
    n = len(shape_of(x))
    if n == 2:
        return x.T
    axes = tuple(range(n - 2)) + (n - 1, n - 2)
    return transpose(x, axes)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    if _is_raw(x):
        return np.broadcast_to(x, shape)
    return x.broadcast_to(shape)


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting to ``x``'s shape."""
    xs = shape_of(x)
    if xs == shape:
        return x
    if not _is_raw(x):
        return x.sum_to(shape)
    lead = len(xs) - len(shape)
    kept = tuple(lead + i for i, n in enumerate(shape) if n == 1 and xs[lead + i] != 1)
    if not kept:  # only leading axes to drop (the common bias case): one reduction
        return np.add.reduce(x, axis=tuple(range(lead)))
    return np.add.reduce(x, axis=tuple(range(lead)) + kept, keepdims=True).reshape(shape)


# np.dot and np.vdot without numpy's __array_function__ dispatch (``_implementation``
# is the C function the public one forwards to). The dispatch only matters to
# array types that override numpy functions; these are called on exact
# ndarrays only, and skip ~0.5 µs a call. np.dot of 2-d arrays, or of a vector
# and a matrix, is the same BLAS product as @ (bit for bit) and cheaper still.
_dot: Callable[..., Any] = getattr(np.dot, "_implementation", np.dot)
_vdot: Callable[..., Any] = getattr(np.vdot, "_implementation", np.vdot)

# Hot paths name ndarray through this alias: numpy's module __getattr__ keeps
# CPython from caching ``np.ndarray`` lookups, which cost ~20 ns each.
_ndarray = np.ndarray


def sum_rows(x: np.ndarray) -> np.ndarray:
    """Σ over the first axis of an array (a layer's bias gradient: δ summed over the batch).

    For a 2-d float32/float64 array this is ``ones · x`` (np.dot), a BLAS vector-matrix
    product: two to three times faster than numpy's reduction down the rows
    of a C-ordered array, and the same sum up to rounding.
    """
    if x.ndim == 2 and (x.dtype is _F64 or x.dtype is _F32):
        key = (x.shape[0], x.dtype)
        ones = _ONES.get(key)
        if ones is None:
            if len(_ONES) >= 64:  # many batch sizes: start over rather than grow
                _ONES.clear()
            ones = _ONES[key] = np.ones(x.shape[0], dtype=x.dtype)
            ones.flags.writeable = False
        return _dot(ones, x)
    return np.add.reduce(x, 0)


_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
_ONES: dict[tuple[int, np.dtype[Any]], np.ndarray] = {}


def where(cond: Any, x: Any, y: Any) -> Any:
    if _is_raw(x) and _is_raw(y):
        return np.where(cond, x, y)
    from .value import where as value_where  # a Value is involved: record it

    return value_where(cond, x, y)


def getitem(x: Any, index: Any) -> Any:
    if _is_raw(x):
        return np.asarray(x)[index]
    return x[index]


def scatter(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the adjoint of ``x[index]``)."""
    if _is_raw(g):
        return _scatter(g, index, shape)
    from .value import apply

    return apply(SCATTER, g, index=index, shape=shape)


def astype(x: Any, dtype: np.dtype[Any]) -> Any:
    if _is_raw(x):
        return np.asarray(x).astype(dtype)
    return x.astype(dtype)


# ---------------------------------------------------------------------------
# Error messages (only built when numpy has already refused the inputs).
# ---------------------------------------------------------------------------


def _shapes(*xs: Any) -> str:
    return " and ".join(str(tuple(np.shape(x))) for x in xs)


def _broadcast_error(name: str, exc: Exception, *xs: Any, **_: Any) -> str:
    return f"{name}: shapes {_shapes(*xs)} cannot be broadcast together"


def _matmul_error(name: str, exc: Exception, a: Any, b: Any) -> str:
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return f"{name}: shapes {sa} and {sb}: matmul needs at least 1-d operands (use * for scalars)"
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        return f"{name}: shapes {sa} and {sb} are not aligned ({k_a} != {k_b})"
    return f"{name}: batch shapes of {sa} and {sb} cannot be broadcast together"


def _generic_error(name: str, exc: Exception, *xs: Any, **params: Any) -> str:
    detail = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"{name}: {exc} (input shapes {_shapes(*xs)}{'; ' + detail if detail else ''})"


# ---------------------------------------------------------------------------
# Forward helpers that need care on Python floats (no exceptions, IEEE results)
# ---------------------------------------------------------------------------


def _invalid(name: str) -> float:
    """nan for a Python float outside ``name``'s domain, warning as numpy does for arrays."""
    warnings.warn(f"invalid value encountered in {name}", RuntimeWarning, stacklevel=4)
    return math.nan


def _div(a: Any, b: Any) -> Any:
    try:
        return a / b
    except ZeroDivisionError:  # Python floats raise where IEEE (and numpy, with a warning) gives inf/nan
        return float(np.float64(a) / np.float64(b))


def _pow(a: Any, b: Any) -> Any:
    if type(a) is float and (type(b) is float or type(b) is int):
        try:
            r = a**b
        except (ZeroDivisionError, OverflowError):
            return float(np.float64(a) ** np.float64(b))  # inf, with numpy's warning
        return _invalid("power") if type(r) is complex else r
    return a**b


def _sigmoid(x: Any, into: bool = False) -> Any:
    """σ(x); ``into=True`` may overwrite x (an array) with the result."""
    # Only ever exponentiate a non-positive number: no overflow for any x.
    if type(x) is float:
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    if type(x) is not _ndarray:
        x = np.asarray(x)
    limit = _EXP_LIMITS.get(x.dtype) or _exp_limit(x)
    # The smallest x by argmin, which numpy vectorizes (4x faster than a min
    # reduction); a nan anywhere is what argmin finds, and fails the test.
    if x.ndim and x.size and x.item(x.argmin()) >= limit:
        # The usual case: e^-x cannot overflow. One buffer: x's own when it is
        # a temporary nobody else holds (a fused layer's z).
        e = np.negative(x, out=x if into else None)
        np.exp(e, out=e)
        e += 1.0
        return np.divide(1.0, e, out=e)
    # Some x is very negative (or nan), or x is 0-d: only exponentiate -|x| <= 0.
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r)


def _exp_limit(x: Any) -> float:
    """The most negative x whose e^-x is finite in x's dtype (with a margin)."""
    dt = np.result_type(x)
    limit = _EXP_LIMITS.get(dt)
    if limit is None:
        limit = _EXP_LIMITS[dt] = 0.1 - float(np.log(np.finfo(dt).max))
    return limit


_EXP_LIMITS: dict[np.dtype[Any], float] = {}
_add_reduce: Callable[..., Any] = np.add.reduce


def _tanh(x: Any) -> Any:
    return math.tanh(x) if type(x) is float else np.tanh(x)


def _sqrt(x: Any) -> Any:
    if type(x) is float:
        return math.sqrt(x) if x >= 0.0 else _invalid("sqrt")
    return np.sqrt(x)


def _relu(x: Any) -> Any:
    if type(x) is float:
        return x if x > 0.0 else 0.0
    return np.maximum(x, 0)


def _leaky_relu(x: Any, slope: float) -> Any:
    if type(x) is float:
        return x if x > 0.0 else slope * x
    return np.where(x > 0, x, x * slope)


def _keep_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The shape a reduction over ``axis`` leaves with ``keepdims=True``."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    kept = _keep_shape(shape, axis)
    return math.prod(shape) // max(math.prod(kept), 1) if math.prod(shape) else 0


def _reciprocal(n: int) -> float:
    return 1.0 / n if n else math.nan  # the mean of nothing is nan, as in numpy


def _unreduce(g: Any, x: Any, axis: Any) -> Any:
    """Broadcast a reduction's gradient back over the reduced axes."""
    shape = shape_of(x)
    if not _is_raw(g):
        return broadcast_to(reshape(g, _keep_shape(shape, axis)), shape)
    # A fresh array (cheaper than np.broadcast_to, and safe to hand out as a .grad).
    out = np.empty(shape, dtype=np.result_type(g))
    out[...] = g if axis is None else np.reshape(g, _keep_shape(shape, axis))
    return out


def _reduce_sum(x: Any, axis: Any, keepdims: bool) -> Any:
    if type(x) is _ndarray and x.ndim:
        return _add_reduce(x, axis=axis, keepdims=keepdims)  # np.sum's wrapper costs ~2 µs
    return np.sum(x, axis=axis, keepdims=keepdims)


def _reduce_mean(x: Any, axis: Any, keepdims: bool) -> Any:
    n = _reduced_count(shape_of(x), axis)
    if n == 0:
        return np.mean(x, axis=axis, keepdims=keepdims)  # nan with numpy's own warning
    total = _reduce_sum(x, axis, keepdims)
    return total * np.result_type(total).type(1.0 / n)  # keeps float32 float32 on numpy 1.x too


def _max(x: Any, axis: Any, keepdims: bool) -> Any:
    return np.max(x, axis=axis, keepdims=keepdims)


def _max_vjp(g: Any, out: Any, x: Any, *, axis: Any, keepdims: bool) -> Any:
    # Ties share the gradient equally (as torch.amax does), so the rule is
    # the derivative of the mean of the tied maxima.
    xd = np.asarray(raw(x))
    peak = np.max(xd, axis=axis, keepdims=True)
    mask = xd == peak
    share = mask / np.sum(mask, axis=axis, keepdims=True)
    return _unreduce(g, x, axis) * share


def _softmax(x: Any, axis: int) -> Any:
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: Any, axis: int) -> Any:
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _scatter(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, dtype=np.result_type(g))
    if _is_basic_index(index):
        out[index] = g  # basic indexing never repeats an element
    else:
        np.add.at(out, index, g)  # integer arrays may repeat: accumulate
    return out


def _is_basic_index(index: Any) -> bool:
    items = index if type(index) is tuple else (index,)
    return all(
        i is None or i is Ellipsis or type(i) is slice or isinstance(i, (int, np.integer)) for i in items
    )


def _index(x: Any, index: Any) -> Any:
    return np.asarray(x)[index]


def _matmul_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 2 and nb == 2:
        return g @ b.T
    if nb == 1:  # out = a @ b drops a's last axis: put it back
        return reshape(g, shape_of(g) + (1,)) * b
    gg = reshape(g, shape_of(g)[:-1] + (1, shape_of(g)[-1])) if na == 1 else g
    return gg @ swap_last(b)  # for 1-d a, sum_to collapses the leftover axes


def _matmul_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 2 and nb == 2:
        return a.T @ g
    if na == 1:  # out = a @ b drops b's second-to-last axis: put it back
        gg = reshape(g, shape_of(g)[:-1] + (1, shape_of(g)[-1])) if nb > 1 else g
        return reshape(a, (shape_of(a)[0], 1)) * gg if nb > 1 else a * g
    gg = reshape(g, shape_of(g) + (1,)) if nb == 1 else g
    r = swap_last(a) @ gg
    return reshape(r, shape_of(r)[:-1]) if nb == 1 else r


def _pow_vjp_exponent(g: Any, out: Any, a: Any, b: Any) -> Any:
    # d a^b / db = a^b log a, defined for a > 0; 0 at a == 0 (as PyTorch); nan for a < 0.
    ad = raw(a)
    positive = np.asarray(ad) > 0
    if positive.all():
        return g * out * log(a)
    safe_log = log(where(positive, a, 1.0))
    fallback = np.where(np.asarray(ad) == 0, 0.0, np.nan)
    return g * out * where(positive, safe_log, fallback)


def _concat_offsets(xs: Sequence[Any], axis: int, i: int) -> tuple[int, int]:
    start = sum(shape_of(x)[axis] for x in xs[:i])
    return start, start + shape_of(xs[i])[axis]


def _concat_vjp(i: int, g: Any, out: Any, *xs: Any, axis: int) -> Any:
    start, stop = _concat_offsets(xs, axis, i)
    return getitem(g, (slice(None),) * axis + (slice(start, stop),))


def _stack_vjp(i: int, g: Any, out: Any, *xs: Any, axis: int) -> Any:
    return getitem(g, (slice(None),) * axis + (i,))


def _in_place(g: Any, out: Any) -> bool:
    """True when a rule may build its result in one fresh buffer: raw arrays of one
    shape and dtype (not Values, as in backward(create_graph=True))."""
    return type(out) is _ndarray and type(g) is _ndarray and g.shape == out.shape and g.dtype is out.dtype


def _tanh_vjp(g: Any, out: Any, x: Any) -> Any:
    if _in_place(g, out):  # g (1 − out²) in one buffer: two temporaries fewer
        d = out * out
        np.subtract(1.0, d, out=d)
        d *= g
        return d
    return g * (1.0 - out * out)


def _sigmoid_vjp(g: Any, out: Any, x: Any) -> Any:
    if _in_place(g, out):  # g σ (1 − σ) in one buffer
        d = np.subtract(1.0, out)
        d *= out
        d *= g
        return d
    return g * (out * (1.0 - out))


# ---------------------------------------------------------------------------
# The table. Each entry: name, forward, then one VJP per input.
# ---------------------------------------------------------------------------

ADD = defop("add", operator.add,
            lambda g, out, a, b: g,
            lambda g, out, a, b: g,
            error=_broadcast_error)  # fmt: skip
SUB = defop("sub", operator.sub,
            lambda g, out, a, b: g,
            lambda g, out, a, b: -g,
            error=_broadcast_error)  # fmt: skip
MUL = defop("mul", operator.mul,
            lambda g, out, a, b: g * b,
            lambda g, out, a, b: g * a,
            error=_broadcast_error)  # fmt: skip
DIV = defop("div", _div,
            lambda g, out, a, b: g / b,
            lambda g, out, a, b: -g * out / b,
            error=_broadcast_error)  # fmt: skip
NEG = defop("neg", operator.neg,
            lambda g, out, a: -g)  # fmt: skip
POW = defop("pow", _pow,
            lambda g, out, a, b: g * b * a ** (b - 1),
            _pow_vjp_exponent,
            error=_broadcast_error)  # fmt: skip
MATMUL = defop("matmul", operator.matmul,
               _matmul_vjp_a,
               _matmul_vjp_b,
               error=_matmul_error)  # fmt: skip

EXP = defop("exp", exp, lambda g, out, x: g * out)
LOG = defop("log", log, lambda g, out, x: g / x)
SQRT = defop("sqrt", _sqrt, lambda g, out, x: g / (2.0 * out))
ABS = defop("abs", abs, lambda g, out, x: g * sign(x))  # abs'(0) = 0
TANH = defop("tanh", _tanh, _tanh_vjp)
SIGMOID = defop("sigmoid", _sigmoid, _sigmoid_vjp)
RELU = defop("relu", _relu, lambda g, out, x: g * (raw(out) > 0))  # relu'(0) = 0; out > 0 iff x > 0
LEAKY_RELU = defop("leaky_relu", _leaky_relu,
                   lambda g, out, x, slope: g * np.where(raw(x) > 0, 1.0, slope))  # fmt: skip

SUM = defop("sum", _reduce_sum,
            lambda g, out, x, axis, keepdims: _unreduce(g, x, axis),
            error=_generic_error)  # fmt: skip
MEAN = defop("mean", _reduce_mean,
             lambda g, out, x, axis, keepdims:
                 _unreduce(g, x, axis) * _reciprocal(_reduced_count(shape_of(x), axis)),
             error=_generic_error)  # fmt: skip
MAX = defop("max", _max, _max_vjp, error=_generic_error)
SOFTMAX = defop("softmax", _softmax,
                lambda g, out, x, axis: out * (g - (g * out).sum(axis=axis, keepdims=True)),
                error=_generic_error)  # fmt: skip
LOG_SOFTMAX = defop("log_softmax", _log_softmax,
                    lambda g, out, x, axis: g - exp(out) * g.sum(axis=axis, keepdims=True),
                    error=_generic_error)  # fmt: skip

RESHAPE = defop("reshape", lambda x, shape: np.reshape(x, shape),
                lambda g, out, x, shape: reshape(g, shape_of(x)),
                error=_generic_error)  # fmt: skip
TRANSPOSE = defop("transpose", lambda x, axes: np.transpose(x, axes),
                  lambda g, out, x, axes:
                      transpose(g, None if axes is None else tuple(np.argsort(axes))),
                  error=_generic_error)  # fmt: skip
BROADCAST_TO = defop("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                     lambda g, out, x, shape: sum_to(g, shape_of(x)),
                     error=_broadcast_error)  # fmt: skip
SUM_TO = defop("sum_to", lambda x, shape: sum_to(x, shape),
               lambda g, out, x, shape: broadcast_to(g, shape_of(x)),
               error=_generic_error)  # fmt: skip
GETITEM = defop("getitem", _index,
                lambda g, out, x, index: scatter(g, index, shape_of(x)),
                error=_generic_error)  # fmt: skip
SCATTER = defop("scatter", _scatter,
                lambda g, out, x, index, shape: getitem(g, index),
                error=_generic_error)  # fmt: skip
ASTYPE = defop("astype", lambda x, dtype: np.asarray(x).astype(dtype),
               lambda g, out, x, dtype: astype(g, np.asarray(raw(x)).dtype))  # fmt: skip
WHERE = defop("where", lambda x, y, cond: np.where(cond, x, y),
              lambda g, out, x, y, cond: where(cond, g, 0.0),
              lambda g, out, x, y, cond: where(cond, 0.0, g),
              error=_broadcast_error)  # fmt: skip
CONCATENATE = defop("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis),
                    _concat_vjp, error=_generic_error, variadic=True)  # fmt: skip
STACK = defop("stack", lambda *xs, axis: np.stack(xs, axis=axis),
              _stack_vjp, error=_generic_error, variadic=True)  # fmt: skip


# --- ops added for nn losses ---


def _softplus(x: Any) -> Any:
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): only a non-positive number is
    # exponentiated, so there is no overflow for any x and no cancellation for large |x|.
    if type(x) is float:
        return max(x, 0.0) + math.log1p(math.exp(-abs(x))) if x == x else x
    return np.logaddexp(0, x)


def _sigmoid_of(x: Any) -> Any:
    """σ(x) for raw data, or as a recorded op on a Value (for create_graph)."""
    return _sigmoid(x) if _is_raw(x) else x.sigmoid()


# softplus(x) = log(1 + e^x); its derivative is σ(x), taken from x itself
# (not as 1 - e^-out, which loses all precision for x << 0).
SOFTPLUS = defop("softplus", _softplus, lambda g, out, x: g * _sigmoid_of(x))


# --- fused ops: one node where a layer or a loss would otherwise take several ---
# They change nothing mathematically; they save the per-node bookkeeping that
# dominates small networks (see benchmarks/README.md).


def _both_matrices(a: Any, b: Any) -> bool:
    return type(a) is _ndarray and type(b) is _ndarray and a.ndim == 2 and b.ndim == 2


def _linear(x: Any, w: Any, b: Any) -> Any:
    z = _dot(x, w) if _both_matrices(x, w) else x @ w
    # (+= would cast a wider b down to z's dtype; a b of more axes than z raises, below)
    if type(z) is _ndarray and type(b) is _ndarray and z.dtype is b.dtype:
        try:
            z += b  # z is a fresh array: add the bias in place
            return z
        except ValueError:  # b broadcasts to more than z's shape
            pass
    return z + b


def _linear_vjp_x(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    if _both_matrices(g, w):
        return _dot(g, w.T)  # ∂E/∂O_i = Σ_j δ_j W_ij: the δ of the layer below, before its g′
    return g @ swap_last(w)


def _linear_vjp_w(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    if _both_matrices(x, g):
        return _dot(x.T, g)  # ∂E/∂W_ij = Σ_batch O_i δ_j
    if x.ndim == 2:
        return x.T @ g
    xs, gs = shape_of(x), shape_of(g)
    if len(xs) == 1:
        return reshape(x, (xs[0], 1)) * reshape(g, (1, gs[0]))
    return reshape(x, (-1, xs[-1])).T @ reshape(g, (-1, gs[-1]))


def _linear_error(name: str, exc: Exception, x: Any, w: Any, b: Any) -> str:
    try:
        np.broadcast_shapes(np.shape(x)[:-1] + np.shape(w)[-1:], np.shape(b))
    except ValueError:
        return f"{name}: bias of shape {np.shape(b)} does not fit x @ w of shapes {_shapes(x, w)}"
    return _matmul_error(name, exc, x, w)


LINEAR = defop("linear", _linear,
               _linear_vjp_x,
               _linear_vjp_w,
               lambda g, out, x, w, b: g,  # the engine sums it over the batch
               error=_linear_error)  # fmt: skip


def _linear_joint(g: Any, wanted: Sequence[Any], x: Any, w: Any, b: Any) -> Any:
    """All three VJPs of ``x @ w + b`` at once when x and w are matrices and b a
    vector of one dtype (a Dense layer's node), else None."""
    if not (type(x) is _ndarray and type(w) is _ndarray and type(b) is _ndarray):
        return None
    dt = x.dtype
    if x.ndim != 2 or w.ndim != 2 or b.shape != w.shape[1:] or w.dtype is not dt or b.dtype is not dt:
        return None  # (a bias that broadcasts, such as shape (1,), needs the general rule)
    # g has the output's shape (batch, out) and dtype: each product has its input's.
    return (
        None if wanted[0] is None else _dot(g, w.T),
        None if wanted[1] is None else _dot(x.T, g),
        None if wanted[2] is None else sum_rows(g),
    )


LINEAR.joint = _linear_joint


def fuse(name: str, inner: Op, outer: Op, forward: Callable[..., Any]) -> Op:
    """Register the op ``outer(inner(...))`` as one node; ``forward`` computes it.

    ``outer`` must be elementwise and unary with a rule that reads only g and
    its own output (σ′ = σ(1 − σ), tanh′ = 1 − tanh², relu′ = [out > 0]):
    the fused node keeps no intermediate. Its gradient reaches the inputs in
    two stages, the chain rule written out: ``pre`` = outer's rule, run once
    per node (for a Dense layer, that is δ = ∂E/∂z), then inner's rules on
    it. ``inner``'s rules must not read their ``out`` (they get the fused one).
    """
    outer_rule = outer.vjps[0]

    def pre(g: Any, out: Any) -> Any:
        return outer_rule(g, out, None)

    def composed(rule: Rule) -> Rule:
        return lambda g, out, *args, **params: rule(pre(g, out), out, *args, **params)

    op = Op(name, forward, [composed(rule) for rule in inner.vjps], inner.describe_error)
    op.pre, op.inner, op.joint = pre, inner.vjps, inner.joint
    OPS[name] = op
    return op


def _linear_sigmoid(x: Any, w: Any, b: Any) -> Any:
    return _sigmoid(_linear(x, w, b), into=True)  # z is a fresh temporary: σ overwrites it


def _linear_tanh(x: Any, w: Any, b: Any) -> Any:
    z = _linear(x, w, b)
    return np.tanh(z, out=z) if type(z) is _ndarray and z.ndim else _tanh(z)


def _linear_relu(x: Any, w: Any, b: Any) -> Any:
    z = _linear(x, w, b)
    return np.maximum(z, 0, out=z) if type(z) is _ndarray and z.ndim else _relu(z)


# A Dense layer and the activation after it, as nn.Sequential runs them.
LINEAR_SIGMOID = fuse("linear_sigmoid", LINEAR, SIGMOID, _linear_sigmoid)
LINEAR_TANH = fuse("linear_tanh", LINEAR, TANH, _linear_tanh)
LINEAR_RELU = fuse("linear_relu", LINEAR, RELU, _linear_relu)


def _squared_error(p: Any, t: Any, scale: float) -> Any:
    """scale · Σ (p − t)² over every element: the sse (scale ½) and mse losses."""
    d = p - t
    total = _vdot(d, d) if type(d) is _ndarray else np.vdot(d, d)
    if type(total) is np.float64:
        return scale * float(total)  # the same product, as the float a float64 scalar Value holds
    return total.dtype.type(scale) * total


def _scaled_difference(g: Any, p: Any, t: Any, factor: float) -> Any:
    """(g · factor) · (p − t): the squared error's VJP, ``factor`` = ±2·scale."""
    if type(g) is _ndarray and g.ndim == 0:
        g = g[()]  # a numpy scalar: its arithmetic costs a tenth of a 0-d array's
    k = g * factor
    d = p - t
    if type(d) is _ndarray and d.ndim:  # then g was raw: k is a number
        if k != 1.0:  # 1 for the sse loss seeded with 1: x · 1 is x exactly, so skip a pass
            d *= k  # d is a fresh temporary of the result's shape
        return d
    return k * d


SQUARED_ERROR = defop("squared_error", _squared_error,
                      lambda g, out, p, t, scale: _scaled_difference(g, p, t, 2.0 * scale),
                      lambda g, out, p, t, scale: _scaled_difference(g, p, t, -2.0 * scale),
                      error=_broadcast_error)  # fmt: skip


# binary cross-entropy on probabilities, elementwise: −[t log p + (1 − t) log(1 − p)],
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
    tiny = np.asarray(raw(spread)) < _BCE_EPS
    if tiny.any():
        spread = where(tiny, _BCE_EPS, spread)
    return g * (p - t) / spread


BINARY_CROSS_ENTROPY = defop("binary_cross_entropy", _bce,
                             _bce_vjp_p,
                             lambda g, out, p, t: g * (_clamped_log(1.0 - p) - _clamped_log(p)),
                             error=_broadcast_error)  # fmt: skip
