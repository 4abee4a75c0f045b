"""Fused ops: one graph node where a Dense layer (and its activation) would take two or three.

They change nothing mathematically: ``linear(x, w, b)`` is ``x @ w + b`` and
``linear_sigmoid`` is ``σ(x @ w + b)``, computed with the same numpy calls
in the same order as the reference path's separate nodes, so the numbers
agree bit for bit. What they save is the per-node bookkeeping, which is most
of a small network's step (benchmarks/README.md).

A fused op's gradient reaches its inputs in two stages, the chain rule
written out: ``pre`` = the activation's rule, once per node (for a Dense
layer that is δ = ∂E/∂z), then the linear map's rules on δ. ``joint`` gives
all three of linear's gradients at once, already shaped, when x and w are
matrices and b a vector of their dtype (a Dense layer's node).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import numerics, ops
from ..numerics import reshape, shape_of, swap_last
from ..ops import Op, Rule
from ..versions import positions_read
from . import kernels
from .kernels import _dot, dot, ndarray


class FusedOp(Op):
    """An op computing ``outer(inner(...))`` as one node (see the module docstring).

    ``vjps`` are the composed rules (used by the reference walk and under
    ``create_graph=True``); the fast walk runs ``pre`` once, then ``inner``'s
    rules, or ``joint`` when it takes the case.
    """

    __slots__ = ("inner", "joint", "pre")

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        inner: Sequence[Rule],
        pre: Callable[[Any, Any], Any] | None = None,
        joint: Callable[..., Any] | None = None,
        describe_error: Callable[..., str] | None = None,
    ) -> None:
        composed = list(inner) if pre is None else [_compose(pre, rule) for rule in inner]
        super().__init__(name, forward, composed, describe_error)
        self.pre, self.inner, self.joint = pre, tuple(inner), joint
        ops.OPS[name] = self


def _compose(pre: Callable[[Any, Any], Any], rule: Rule) -> Rule:
    def composed(g: Any, out: Any, *args: Any, **params: Any) -> Any:
        return rule(pre(g, out), out, *args, **params)

    # What it reads, for the version check (versions.py): pre reads the output.
    inner = positions_read(rule, 3)
    composed.reads = None if inner is None else tuple(sorted({0, *inner}))  # type: ignore[attr-defined]
    return composed


def _both_matrices(a: Any, b: Any) -> bool:
    return type(a) is ndarray and type(b) is ndarray and a.ndim == 2 and b.ndim == 2


def linear(x: Any, w: Any, b: Any) -> Any:
    """x @ w + b, the bias added in place into the fresh product."""
    z = _dot(x, w) if _both_matrices(x, w) and x.shape[1] != 1 else x @ w
    # (+= would cast a wider b down to z's dtype; a b of more axes than z raises, below)
    if type(z) is ndarray and type(b) is ndarray and z.dtype is b.dtype:
        try:
            z += b
            return z
        except ValueError:  # b broadcasts to more than z's shape
            pass
    return z + b


def _linear_vjp_x(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    if _both_matrices(g, w):
        return dot(g, w.T)
    return g @ swap_last(w)


def _linear_vjp_w(g: Any, out: Any, x: Any, w: Any, b: Any) -> Any:
    if _both_matrices(x, g):
        return dot(x.T, g)
    xs, gs = shape_of(x), shape_of(g)
    if len(xs) == 2:
        return x.T @ g
    if len(xs) == 1:
        return reshape(x, (xs[0], 1)) * reshape(g, (1, gs[0]))
    return reshape(x, (-1, xs[-1])).T @ reshape(g, (-1, gs[-1]))


def _linear_error(name: str, exc: Exception, x: Any, w: Any, b: Any) -> str:
    try:
        np.broadcast_shapes(np.shape(x)[:-1] + np.shape(w)[-1:], np.shape(b))
    except ValueError:
        return f"{name}: bias of shape {np.shape(b)} does not fit x @ w of shapes {numerics.shapes(x, w)}"
    return numerics.matmul_error(name, exc, x, w)


def _linear_joint(g: Any, wanted: Sequence[Any], x: Any, w: Any, b: Any) -> Any:
    """All three VJPs of ``x @ w + b`` at once when x and w are matrices and b a
    vector of one dtype (a Dense layer's node), else None."""
    if not (type(x) is ndarray and type(w) is ndarray and type(b) is ndarray):
        return None
    dt = x.dtype
    if x.ndim != 2 or w.ndim != 2 or b.shape != w.shape[1:] or w.dtype is not dt or b.dtype is not dt:
        return None  # (a bias that broadcasts, such as shape (1,), needs the general rule)
    # g has the output's shape (batch, out) and dtype: each product has its input's.
    if x.shape[0] == 1 or w.shape[1] == 1:  # an inner dimension of 1: see kernels.dot
        return (
            None if wanted[0] is None else dot(g, w.T),
            None if wanted[1] is None else dot(x.T, g),
            None if wanted[2] is None else kernels.sum_rows(g),
        )
    return (
        None if wanted[0] is None else _dot(g, w.T),
        None if wanted[1] is None else _dot(x.T, g),
        None if wanted[2] is None else _dot(kernels.ones(g), g),
    )


LINEAR = FusedOp(
    "linear",
    linear,
    [_linear_vjp_x, _linear_vjp_w, lambda g, out, x, w, b: g],  # the walk sums b's over the batch
    joint=_linear_joint,
    describe_error=_linear_error,
)


def _activation_pre(outer: Op) -> Callable[[Any, Any], Any]:
    rule = kernels.RULES.get(outer, outer.vjps)[0]
    return lambda g, out: rule(g, out, None)


def _linear_sigmoid(x: Any, w: Any, b: Any) -> Any:
    return kernels.sigmoid_into(linear(x, w, b))  # z is a fresh temporary: σ overwrites it


def _linear_tanh(x: Any, w: Any, b: Any) -> Any:
    z = linear(x, w, b)
    return np.tanh(z, out=z) if type(z) is ndarray and z.ndim else numerics.tanh(z)


def _linear_relu(x: Any, w: Any, b: Any) -> Any:
    z = linear(x, w, b)
    return np.maximum(z, 0, out=z) if type(z) is ndarray and z.ndim else numerics.relu(z)


def _fused(name: str, forward: Callable[..., Any], outer: Op) -> FusedOp:
    # The activation's rule reads only g and its own output (σ′ = σ(1 − σ),
    # tanh′ = 1 − tanh², relu′ = [out > 0]), so the node keeps no z.
    return FusedOp(name, forward, LINEAR.inner, _activation_pre(outer), LINEAR.joint, _linear_error)


# A Dense layer and the activation after it, as Sequential runs them.
LINEAR_SIGMOID = _fused("linear_sigmoid", _linear_sigmoid, ops.SIGMOID)
LINEAR_TANH = _fused("linear_tanh", _linear_tanh, ops.TANH)
LINEAR_RELU = _fused("linear_relu", _linear_relu, ops.RELU)
