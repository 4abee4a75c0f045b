"""The numerics the op table is written with.

Two kinds of function live here, so that ``ops.py`` can hold nothing but the
table itself:

* **Polymorphic helpers** (``exp``, ``log``, ``reshape``, ``sum_to`` …): a
  float, an ndarray *or* a Value in, the same kind out. VJP rules are written
  with them and with operators, so the same rule runs on raw arrays in an
  ordinary backward pass and on Values (recorded, hence differentiable again)
  under ``backward(create_graph=True)``. A Value is recognized as anything
  that is neither a float nor a numpy object, and used through its methods:
  this module never imports ``Value``.
* **Careful forwards**: IEEE results (inf, nan) without exceptions on Python
  floats, overflow-free sigmoid and softplus, reductions that keep float32
  float32, and the messages for inputs numpy refuses.
"""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------
# Polymorphic helpers: float | ndarray | Value in, same kind out.
# ---------------------------------------------------------------------------


def is_raw(x: Any) -> bool:
    """True for plain data (a Python number or a numpy object), False for a Value."""
    return type(x) is float or isinstance(x, (np.ndarray, np.generic, int))


def raw(x: Any) -> Any:
    """The numeric data behind ``x`` (a Value's ``.data``; raw data itself)."""
    return x if is_raw(x) else x.data


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a number, an array or a Value (``()`` for a Python number)."""
    return () if type(x) is float or type(x) is int else x.shape


def exp(x: Any) -> Any:
    """e^x; overflow gives inf without a warning, as IEEE arithmetic does."""
    if type(x) is float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf
    if is_raw(x):
        with np.errstate(over="ignore"):
            return np.exp(x)
    return x.exp()


def log(x: Any) -> Any:
    """Natural log; log(0) = -inf without a warning, a negative number gives nan (with one)."""
    if type(x) is float:
        if x > 0.0:
            return math.log(x)
        return -math.inf if x == 0.0 else invalid("log")
    if is_raw(x):
        with np.errstate(divide="ignore"):
            return np.log(x)
    return x.log()


def sign(x: Any) -> Any:
    """Sign of the raw data (0 at 0): a locally constant mask, never recorded."""
    x = raw(x)
    if type(x) is float:
        return float((x > 0.0) - (x < 0.0)) if x == x else x  # sign(nan) is nan, as np.sign's
    return np.sign(x)


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` with a new shape."""
    return np.reshape(x, shape) if is_raw(x) else x.reshape(shape)


def transpose(x: Any, axes: tuple[int, ...] | None) -> Any:
    """``x`` with its axes permuted (reversed when ``axes`` is None)."""
    return np.transpose(x, axes) if is_raw(x) else x.transpose(axes)


def swap_last(x: Any) -> Any:
    """Swap the last two axes (the matrix transpose of a stack of matrices)."""
    n = len(shape_of(x))
    if n == 2:
        return x.T
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` broadcast to ``shape``."""
    return np.broadcast_to(x, shape) if is_raw(x) else x.broadcast_to(shape)


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting to ``x``'s shape.

    This is how the engine undoes broadcasting in a gradient: the bias of a
    layer, broadcast over the batch in the forward pass, gets the sum of the
    batch's gradients.
    """
    xs = shape_of(x)
    if xs == shape:
        return x
    if not is_raw(x):
        return x.sum_to(shape)
    x = np.asarray(x)
    if x.ndim == 2 and xs[1:] == shape:
        return sum_rows(x)
    lead = len(xs) - len(shape)
    if lead < 0 or any(n != 1 and n != xs[lead + i] for i, n in enumerate(shape)):
        raise ValueError(f"sum_to: cannot sum shape {xs} down to {shape}")
    kept = tuple(lead + i for i, n in enumerate(shape) if n == 1 and xs[lead + i] != 1)
    if not kept:  # only leading axes to drop
        return np.add.reduce(x, axis=tuple(range(lead)))
    return np.add.reduce(x, axis=tuple(range(lead)) + kept, keepdims=True).reshape(shape)


def sum_rows(x: np.ndarray) -> np.ndarray:
    """Σ over the rows of a matrix: the bias gradient ∂E/∂θ_j = Σ_n δ_nj.

    Written as the product 1ᵀx, a BLAS vector-matrix product for float32 and
    float64 (two to three times faster than numpy's reduction down the rows
    of a C-ordered array; the fast path computes the same product).
    """
    if x.dtype == np.float64 or x.dtype == np.float32:
        return np.ones(x.shape[0], dtype=x.dtype) @ x
    return np.add.reduce(x, 0)


def where(cond: Any, x: Any, y: Any) -> Any:
    """``x`` where ``cond`` holds, else ``y`` (recorded when a Value is involved)."""
    if is_raw(x) and is_raw(y):
        return np.where(cond, x, y)
    from .value import where as value_where

    return value_where(cond, x, y)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``."""
    return np.asarray(x)[index] if is_raw(x) else x[index]


def scatter(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the adjoint of ``x[index]``)."""
    if is_raw(g):
        return scatter_raw(g, index, shape)
    from . import ops
    from .value import apply

    return apply(ops.SCATTER, g, index=index, shape=shape)


def astype(x: Any, dtype: np.dtype[Any]) -> Any:
    """``x`` cast to ``dtype``."""
    return np.asarray(x).astype(dtype) if is_raw(x) else x.astype(dtype)


def unreduce(g: Any, x: Any, axis: Any) -> Any:
    """Broadcast a reduction's gradient back over the reduced axes of ``x``."""
    shape = shape_of(x)
    if not is_raw(g):
        return broadcast_to(reshape(g, keep_shape(shape, axis)), shape)
    # A fresh array rather than a broadcast view: safe to hand out as a .grad.
    out = np.empty(shape, dtype=np.result_type(g))
    out[...] = g if axis is None else np.reshape(g, keep_shape(shape, axis))
    return out


def keep_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The shape a reduction over ``axis`` leaves with ``keepdims=True``."""
    if axis is None:
        return (1,) * len(shape)
    axes = set()
    for a in (axis,) if isinstance(axis, int) else axis:
        if not -len(shape) <= a < len(shape):  # numpy's error (a 0-d shape has no axis at all)
            raise _AxisError(a, len(shape))
        axes.add(a % len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


_AxisError = getattr(np, "exceptions", np).AxisError  # (np.exceptions from numpy 1.25 on)


def reduced_count(shape: tuple[int, ...], axis: Any) -> int:
    """How many elements a reduction over ``axis`` folds into each result."""
    kept = keep_shape(shape, axis)
    return math.prod(shape) // max(math.prod(kept), 1) if math.prod(shape) else 0


def reciprocal(n: int) -> float:
    """1 / n, and nan for n = 0 (the mean of nothing, as in numpy)."""
    return 1.0 / n if n else math.nan


# ---------------------------------------------------------------------------
# Careful forwards: IEEE results on Python floats, no overflow, dtypes kept.
# ---------------------------------------------------------------------------


def invalid(name: str) -> float:
    """nan for a Python float outside ``name``'s domain, warning as numpy does for arrays."""
    warnings.warn(f"invalid value encountered in {name}", RuntimeWarning, stacklevel=4)
    return math.nan


def div(a: Any, b: Any) -> Any:
    """a / b; Python floats give inf or nan for a zero divisor, as numpy does (with its warning)."""
    try:
        return a / b
    except ZeroDivisionError:
        return float(np.float64(a) / np.float64(b))


def power(a: Any, b: Any) -> Any:
    """a ** b with IEEE results for Python floats (inf on overflow, nan for a real root of a negative)."""
    if type(a) is float and (type(b) is float or type(b) is int):
        try:
            r = a**b
        except (ZeroDivisionError, OverflowError):
            return float(np.float64(a) ** np.float64(b))  # inf, with numpy's warning
        return invalid("power") if type(r) is complex else r
    return a**b


def sigmoid(x: Any) -> Any:
    """σ(x) = 1 / (1 + e^-x), without overflow for any x."""
    if type(x) is float:
        # The array formulas below, one number at a time (so both give the same bits).
        if x >= _EXP_LIMIT_F64 or x != x:  # e^-x is finite (or x is nan: nan)
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)  # x is very negative: exponentiate only x itself
        return e / (1.0 + e)
    x = np.asarray(x)
    if x.ndim and x.size and np.min(x) >= exp_limit(x.dtype):
        return 1.0 / (1.0 + np.exp(-x))  # the usual case: e^-x is finite everywhere
    # Some x is very negative (or nan), or x is 0-d: exponentiate only -|x| <= 0.
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r)


@cache
def exp_limit(dtype: np.dtype[Any]) -> float:
    """The most negative x whose e^-x is finite in ``dtype`` (with a margin)."""
    return 0.1 - float(np.log(np.finfo(dtype).max))


_EXP_LIMIT_F64 = exp_limit(np.dtype(np.float64))


def tanh(x: Any) -> Any:
    """tanh(x)."""
    return math.tanh(x) if type(x) is float else np.tanh(x)


def sqrt(x: Any) -> Any:
    """√x; a negative Python float gives nan with numpy's warning."""
    if type(x) is float:
        return math.sqrt(x) if x >= 0.0 else invalid("sqrt")
    return np.sqrt(x)


def relu(x: Any) -> Any:
    """max(x, 0)."""
    if type(x) is float:
        return x if x > 0.0 or x != x else 0.0  # relu(nan) is nan, as np.maximum's
    return np.maximum(x, 0)


def leaky_relu(x: Any, slope: float) -> Any:
    """x for x > 0, slope·x otherwise."""
    if type(x) is float:
        return x if x > 0.0 else slope * x
    return np.where(x > 0, x, x * slope)


def softplus(x: Any) -> Any:
    """log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow, no cancellation for large |x|."""
    if type(x) is float:
        return float(np.logaddexp(0.0, x))  # numpy's algorithm: the same bits as for arrays
    return np.logaddexp(0, x)


def reduce_sum(x: Any, axis: Any, keepdims: bool) -> Any:
    """Σ over ``axis``."""
    return np.sum(x, axis=axis, keepdims=keepdims)


def reduce_mean(x: Any, axis: Any, keepdims: bool) -> Any:
    """The mean over ``axis``, in x's dtype (float32 stays float32 on numpy 1.x too)."""
    n = reduced_count(shape_of(x), axis)
    if n == 0:
        return np.mean(x, axis=axis, keepdims=keepdims)  # nan with numpy's own warning
    total = reduce_sum(x, axis, keepdims)
    return total * np.result_type(total).type(1.0 / n)


def softmax(x: Any, axis: int) -> Any:
    """e^x / Σ e^x along ``axis``, after subtracting the max (nothing overflows)."""
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int) -> Any:
    """x - log Σ e^x along ``axis``, after subtracting the max."""
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def scatter_raw(g: Any, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index``; repeated integer indices accumulate."""
    out = np.zeros(shape, dtype=np.result_type(g))
    if _is_basic_index(index):
        out[index] = g  # basic indexing never repeats an element
    else:
        np.add.at(out, index, g)
    return out


def _is_basic_index(index: Any) -> bool:
    items = index if type(index) is tuple else (index,)
    return all(
        i is None or i is Ellipsis or type(i) is slice or isinstance(i, (int, np.integer)) for i in items
    )


def squared_error(p: Any, t: Any, scale: float) -> Any:
    """scale · Σ (p − t)² over every element, as the dot product d·d of d = p − t."""
    d = p - t
    total = np.vdot(d, d)
    if type(total) is np.float64:
        return scale * float(total)
    return total.dtype.type(scale) * total  # float32 stays float32 on numpy 1.x too


# ---------------------------------------------------------------------------
# Error messages, built only once numpy has refused an op's inputs.
# ---------------------------------------------------------------------------


def shapes(*xs: Any) -> str:
    """``(2, 3) and (4,)``: the shapes of the inputs, for a message."""
    return " and ".join(str(tuple(np.shape(x))) for x in xs)


def broadcast_error(name: str, exc: Exception, *xs: Any, **_: Any) -> str:
    """The message for inputs whose shapes do not broadcast."""
    return f"{name}: shapes {shapes(*xs)} cannot be broadcast together"


def matmul_error(name: str, exc: Exception, a: Any, b: Any) -> str:
    """The message for operands of ``@`` that do not fit."""
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return f"{name}: shapes {sa} and {sb}: matmul needs at least 1-d operands (use * for scalars)"
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        return f"{name}: shapes {sa} and {sb} are not aligned ({k_a} != {k_b})"
    return f"{name}: batch shapes of {sa} and {sb} cannot be broadcast together"


def generic_error(name: str, exc: Exception, *xs: Any, **params: Any) -> str:
    """numpy's own message, with the op's name, the input shapes and the parameters."""
    detail = ", ".join(f"{k}={v!r}" for k, v in params.items())
    text = str(exc) if str(exc).startswith(f"{name}:") else f"{name}: {exc}"
    return f"{text} (input shapes {shapes(*xs)}{'; ' + detail if detail else ''})"
