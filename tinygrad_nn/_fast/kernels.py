"""Drop-in kernels: the same numbers as the op table's rules, bit for bit, cheaper.

Each replaces a rule (or a forward) of :mod:`tinygrad_nn.ops` while the fast
path is installed; ``tests/test_fast_equivalence.py`` checks them against
the formulas they replace. They fall back to those formulas whenever their
shortcut does not apply (Values under ``create_graph=True``, mixed dtypes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import numerics, ops

# np.dot and np.vdot without numpy's __array_function__ dispatch
# (``_implementation`` is the C function the public one forwards to): the
# dispatch only matters to array types that override numpy functions, and
# these are called on exact ndarrays only. Saves ~0.5 µs a call.
_dot: Callable[..., Any] = getattr(np.dot, "_implementation", np.dot)
vdot: Callable[..., Any] = getattr(np.vdot, "_implementation", np.vdot)


def dot(a: np.ndarray, b: np.ndarray) -> Any:
    """``a @ b`` for matrices (or a vector and a matrix), bit for bit, faster.

    np.dot makes the same BLAS call as @ (0.96 against 2.06 µs for 150x4 by
    4x10) and gives the same bits, except for the sign of a zero when the
    inner dimension is 1: @ adds each product to +0, BLAS does not. That
    case, an outer product, is computed as @ does it: the products plus 0.0
    (68 µs for 784x1 by 1x128, against 114 µs for @).
    """
    if a.shape[-1] != 1:
        return _dot(a, b)
    if a.ndim == 2 and b.ndim == 2:
        r = np.multiply(a, b)
        r += 0.0
        return r
    return a @ b


# numpy's module __getattr__ keeps CPython from caching ``np.ndarray``
# lookups, which cost ~20 ns each on a hot path.
ndarray = np.ndarray

F64, F32 = np.dtype(np.float64), np.dtype(np.float32)
_ONES: dict[tuple[int, np.dtype[Any]], np.ndarray] = {}
_add_reduce: Callable[..., Any] = np.add.reduce


def sum_rows(x: np.ndarray) -> np.ndarray:
    """:func:`tinygrad_nn.numerics.sum_rows` (1ᵀx) with a cached ones vector and no dispatch."""
    if x.ndim == 2 and (x.dtype is F64 or x.dtype is F32):
        return dot(ones(x), x)
    return numerics.sum_rows(x)


def ones(x: np.ndarray) -> np.ndarray:
    """A read-only ones vector as long as ``x``'s rows, in its dtype, cached."""
    key = (x.shape[0], x.dtype)
    v = _ONES.get(key)
    if v is None:
        if len(_ONES) >= 64:  # many batch sizes: start over rather than grow
            _ONES.clear()
        v = _ONES[key] = np.ones(x.shape[0], dtype=x.dtype)
        v.flags.writeable = False
    return v


def _one_buffer(g: Any, out: Any) -> bool:
    """True when a rule may build its result in one fresh buffer: raw arrays of one
    shape and dtype (not Values, as under backward(create_graph=True)), not 0-d
    (arithmetic on 0-d arrays returns numpy scalars, which have no buffer)."""
    return (
        type(out) is ndarray and type(g) is ndarray and out.ndim > 0
        and g.shape == out.shape and g.dtype is out.dtype
    )  # fmt: skip


def tanh_vjp(g: Any, out: Any, x: Any) -> Any:
    """g (1 − out²) in one buffer: two temporaries fewer than the formula."""
    if _one_buffer(g, out):
        d = out * out
        np.subtract(1.0, d, out=d)
        d *= g
        return d
    return ops.TANH.vjps[0](g, out, x)


def sigmoid_vjp(g: Any, out: Any, x: Any) -> Any:
    """g · out (1 − out) in one buffer."""
    if _one_buffer(g, out):
        d = np.subtract(1.0, out)
        d *= out
        d *= g
        return d
    return ops.SIGMOID.vjps[0](g, out, x)


def sigmoid_into(x: Any) -> Any:
    """σ(x), overwriting ``x`` (a fresh temporary nobody else holds, such as a fused layer's z)."""
    if type(x) is ndarray and x.ndim and x.size and x.item(x.argmin()) >= numerics.exp_limit(x.dtype):
        # argmin rather than min: numpy vectorizes it, 4x faster; a nan is what it finds, and fails.
        np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1.0
        return np.divide(1.0, x, out=x)
    return numerics.sigmoid(x)


def _scaled_difference(g: Any, p: Any, t: Any, factor: float) -> Any:
    if type(g) is ndarray and g.ndim == 0:
        g = g[()]  # a numpy scalar: its arithmetic costs a tenth of a 0-d array's
    k = g * factor
    d = p - t
    if type(d) is ndarray and d.ndim:  # then g was raw: k is a number
        if k != 1.0:  # the sse loss seeded with 1: x · 1 is x exactly, so skip a pass
            d *= k  # d is a fresh temporary of the result's shape
        return d
    return k * d


def squared_error_vjp_p(g: Any, out: Any, p: Any, t: Any, scale: float) -> Any:
    """(g · 2·scale) · (p − t), written into the fresh p − t."""
    return _scaled_difference(g, p, t, 2.0 * scale)


def squared_error_vjp_t(g: Any, out: Any, p: Any, t: Any, scale: float) -> Any:
    """(g · −2·scale) · (p − t), written into the fresh p − t."""
    return _scaled_difference(g, p, t, -2.0 * scale)


def squared_error(p: Any, t: Any, scale: float) -> Any:
    """:func:`tinygrad_nn.numerics.squared_error` with the undispatched vdot."""
    d = p - t
    total = vdot(d, d) if type(d) is ndarray else np.vdot(d, d)
    if type(total) is np.float64:
        return scale * float(total)
    return total.dtype.type(scale) * total


def reduce_sum(x: Any, axis: Any, keepdims: bool) -> Any:
    """np.sum without its Python wrapper (~2 µs) for arrays."""
    if type(x) is ndarray and x.ndim:
        return _add_reduce(x, axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


# What install() puts in place: op -> its rules, and op -> its forward.
RULES: dict[ops.Op, tuple[Callable[..., Any], ...]] = {
    ops.TANH: (tanh_vjp,),
    ops.SIGMOID: (sigmoid_vjp,),
    ops.SQUARED_ERROR: (squared_error_vjp_p, squared_error_vjp_t),
}
FORWARDS: dict[ops.Op, Callable[..., Any]] = {
    ops.SQUARED_ERROR: squared_error,
    ops.SUM: reduce_sum,
}
