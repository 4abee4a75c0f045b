"""Function transforms: grad, jacobian, hessian, hvp by double backprop; jvp and vjp.

The reverse-mode transforms differentiate with ``create_graph=True``, so
their results are Values with graphs and the transforms compose:
``grad(grad(f))`` is f''. Shapes follow JAX: ``jacobian(f)(x)`` has shape
``f(x).shape + x.shape``, ``hessian(f)(x)`` has ``x.shape + x.shape`` and
``hvp(f, x, v)`` has x's shape. ``vjp`` is reverse mode as a function of the
cotangent (differentiable too); ``jvp`` is forward mode
(:mod:`tinygrad_nn.forward_mode`), first-order: its results are constants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from . import autograd, forward_mode
from .grad_mode import enable_grad
from .value import Value, concatenate, stack


def _variable(x: Any) -> Value:
    """A Value to differentiate with respect to.

    A Value that already requires grad is used as it is, so an outer transform
    can differentiate through an inner one; anything else becomes a new leaf.
    """
    if isinstance(x, Value):
        return x if x.requires_grad else Value(x.data)
    return Value(x)


def _argnums(argnums: int | Sequence[int], nargs: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(
                f"{name}: argnums {i} is out of range for a function called with {nargs} arguments"
            )
    return tuple(i % nargs for i in nums)


def grad(f: Callable[..., Value], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The gradient function of scalar-valued ``f``.

    ``grad(f)(x)`` is ∂f/∂x as a Value of x's shape (``.data`` for the numbers);
    with a tuple ``argnums`` it returns a tuple of gradients. Composable:
    ``grad(grad(f))(x)`` is the second derivative of a scalar function.
    """

    def gradient(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "grad")
        xs = list(args)
        for i in nums:
            xs[i] = _variable(args[i])
        out = f(*xs)
        if not isinstance(out, Value) or out.size != 1:
            shape = out.shape if isinstance(out, Value) else type(out).__name__
            raise ValueError(f"grad: f must return a single-element Value, got {shape}; use jacobian")
        if not out.requires_grad:
            results = [Value(np.zeros_like(np.asarray(xs[i].data)), requires_grad=False) for i in nums]
        else:
            results = autograd.grad(out, [xs[i] for i in nums], create_graph=True)
        return results[0] if isinstance(argnums, int) else tuple(results)

    gradient.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    gradient.__doc__ = f"Gradient of {getattr(f, '__name__', 'f')} with respect to argument(s) {argnums}."
    return gradient


def jacobian(f: Callable[..., Value], argnums: int = 0) -> Callable[..., Value]:
    """The Jacobian function of ``f``: ``jacobian(f)(x)[i..., j...] = ∂f(x)[i...]/∂x[j...]``.

    Built one output element at a time by reverse mode (one backward pass per
    element of f(x)); the result is a Value of shape ``f(x).shape + x.shape``.
    """

    def jac(*args: Any) -> Value:
        (num,) = _argnums(argnums, len(args), "jacobian")
        xs = list(args)
        x = xs[num] = _variable(args[num])
        out = f(*xs)
        if not isinstance(out, Value):
            raise TypeError(f"jacobian: f must return a Value, got {type(out).__name__}")
        rows = []
        flat = out.reshape(-1)
        for k in range(out.size):
            if out.requires_grad:
                (row,) = autograd.grad(flat[k], [x], create_graph=True)
            else:
                row = Value(np.zeros_like(np.asarray(x.data)), requires_grad=False)
            rows.append(row)
        if not rows:
            return Value(np.zeros(out.shape + x.shape), requires_grad=False)
        return stack(rows).reshape(out.shape + x.shape)

    return jac


def hessian(f: Callable[..., Value], argnums: int = 0) -> Callable[..., Value]:
    """The Hessian function of scalar ``f``: shape ``x.shape + x.shape``."""
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Callable[..., Value], x: Any, v: Any) -> Value:
    """The Hessian-vector product H v of scalar ``f`` at ``x``, by double backprop.

    Computes ∂/∂x ⟨∇f(x), v⟩ with two backward passes, never forming H.
    """
    xv = _variable(x)
    vd = np.asarray(v.data if isinstance(v, Value) else v, dtype=np.float64)
    if vd.shape != xv.shape:
        raise ValueError(f"hvp: v has shape {vd.shape} but x has shape {xv.shape}")
    g = grad(f)(xv)
    directional = (g * vd).sum()
    if not directional.requires_grad:  # f is at most linear in x
        return Value(np.zeros_like(vd), requires_grad=False)
    (hv,) = autograd.grad(directional, [xv], create_graph=True)
    return hv


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J v)``, the value of ``f`` and its derivative along ``tangents``.

    As ``jax.jvp``: ``primals`` and ``tangents`` are tuples (or lists) with one
    entry per argument of ``f``: numbers, arrays or Values, each tangent of its
    primal's shape and dtype (numbers and integer arrays are converted).
    ``f`` returns a Value or a tuple (or list) of Values; the result is
    ``(primals_out, tangents_out)`` of the same structure, where the tangent of
    output k is Σ_i ∂f_k/∂x_i · v_i, of output k's shape and dtype.

    The derivatives come from each op's tangent (JVP) rules
    (:mod:`tinygrad_nn.forward_mode`), pushed forward through the graph that
    evaluating ``f`` records: independent of the reverse-mode rules, so
    comparing the two checks both. The results are constant Values (read
    ``.data``): forward mode here is first-order. (Not
    :func:`tinygrad_nn.autograd.vjp`, the reverse walk's step through one node.)
    """
    primals = _arguments(primals, "primals", "jvp")
    tangents = _arguments(tangents, "tangents", "jvp")
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent per primal"
        )
    xs, seeds = [], []
    for i, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        try:  # a leaf of its own: the tangents start here whatever p was computed from
            x = Value(p.data if isinstance(p, Value) else p)
        except TypeError as exc:
            raise TypeError(f"jvp: primals[{i}]: {exc}") from None
        xs.append(x)
        seeds.append((x, forward_mode.as_tangent(t, x.data, f"jvp: tangents[{i}]", f"primals[{i}]")))
    with enable_grad():  # forward mode walks the graph f records
        outs, pack = _outputs(f(*xs), "jvp")
    results = forward_mode.push_tangents(outs, seeds)
    return pack([o.detach() for o in outs]), pack([Value(t, requires_grad=False) for t in results])


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[[Any], tuple[Value, ...]]]:
    """Reverse mode as a function: ``(f(*primals), vjp_fn)`` with ``vjp_fn(u)`` = uᵀJ.

    As ``jax.vjp``: ``f`` returns a Value or a tuple (or list) of Values, and
    ``vjp_fn(cotangent)`` takes a cotangent of the same structure (each of its
    output's shape and dtype) and returns a tuple with one gradient per
    primal, Σ_k u_k · ∂f_k/∂x_i of ``primals[i]``'s shape. ``vjp_fn`` may be
    called many times (one backward pass per output each time). Its results
    are Values with graphs, differentiable again, as :func:`grad`'s are; a
    primal that is a Value requiring grad is used as it is (so an outer
    transform can differentiate through), anything else becomes a new leaf.
    (Not :func:`tinygrad_nn.autograd.vjp`, the reverse walk's step through one node.)
    """
    xs = [_variable(p) for p in primals]
    with enable_grad():
        out = f(*xs)
    outs, pack = _outputs(out, "vjp")
    single = isinstance(out, Value)

    def vjp_fn(cotangent: Any) -> tuple[Value, ...]:
        if single:
            cts = [cotangent]
        else:
            cts = _arguments(cotangent, "cotangent", "vjp_fn", "output of f")
            if len(cts) != len(outs):
                raise ValueError(f"vjp_fn: {len(cts)} cotangents for {len(outs)} outputs of f")
        names = (
            [("vjp_fn: the cotangent", "f's output")]
            if single
            else [(f"vjp_fn: cotangent[{k}]", f"f's output {k}") for k in range(len(outs))]
        )
        # every cotangent is checked before any backward pass runs
        us = [forward_mode.as_tangent(ct, o.data, *n) for o, ct, n in zip(outs, cts, names, strict=True)]
        totals: list[Any] = [None] * len(xs)
        for o, u in zip(outs, us, strict=True):
            if not o.requires_grad:
                continue  # a constant output: no contribution
            grads = autograd.grad(o, xs, grad_output=u, create_graph=True)
            with enable_grad():  # the sum over outputs is part of the gradients' graphs
                totals = [g if s is None else s + g for s, g in zip(totals, grads, strict=True)]
        return tuple(
            Value(np.zeros_like(np.asarray(x.data)), requires_grad=False) if s is None else s
            for s, x in zip(totals, xs, strict=True)
        )

    return pack(outs), vjp_fn


def _arguments(seq: Any, what: str, who: str, per: str = "argument of f") -> list[Any]:
    """``seq`` as a list, when it is a tuple or a list (one entry per argument, or per output)."""
    if not isinstance(seq, (tuple, list)):
        raise TypeError(
            f"{who}: {what} must be a tuple or list with one entry per {per}, got {type(seq).__name__}"
        )
    return list(seq)


def _outputs(out: Any, who: str) -> tuple[list[Value], Callable[[list[Any]], Any]]:
    """f's output as a list of Values, and the function that packs a list like it
    (a single Value, a tuple or a list)."""
    if isinstance(out, Value):
        return [out], lambda items: items[0]
    if isinstance(out, (tuple, list)) and all(isinstance(o, Value) for o in out):
        kind = list if isinstance(out, list) else tuple
        return list(out), lambda items: kind(items)
    if isinstance(out, (tuple, list)):
        others = sorted({type(o).__name__ for o in out if not isinstance(o, Value)})
        got = f"a {type(out).__name__} holding {', '.join(others)}"
    else:
        got = type(out).__name__
    raise TypeError(f"{who}: f must return a Value or a tuple or list of Values, got {got}")


def gradgradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    method: Literal["central", "forward"] = "central",
    raise_exception: bool = True,
    seed: int = 0,
) -> Any:
    """Check second derivatives of ``fn`` against finite differences of its gradient.

    With s = Σ W ⊙ fn(inputs) for a fixed random W (seeded; W = 1 for a
    single-element output), the gradient ∂s/∂x of every input that requires
    grad is computed by backprop with ``create_graph=True`` and flattened into
    one vector G(inputs). :func:`~tinygrad_nn.gradcheck` then compares the full
    Jacobian of G, i.e. every second derivative ∂²s/∂x_i∂x_j, obtained by double
    backprop, with central (or forward) differences of G. Returns the same report
    as ``gradcheck`` (and raises ``GradcheckError`` on failure unless
    ``raise_exception=False``).
    """
    from .gradcheck import gradcheck

    differentiable = [i for i, x in enumerate(inputs) if not (isinstance(x, Value) and not x.requires_grad)]
    if not differentiable:
        raise ValueError("gradgradcheck: no input requires grad")
    probe = fn(*[Value(np.asarray(getattr(x, "data", x), dtype=np.float64)) for x in inputs])
    if not isinstance(probe, Value):
        raise TypeError(f"gradgradcheck: fn must return a Value, got {type(probe).__name__}")
    weights = np.random.default_rng(seed).standard_normal(probe.shape) if probe.size != 1 else 1.0

    def first_derivatives(*args: Value) -> Value:
        xs = list(args)
        for i in differentiable:  # finite differences pass constants: differentiate them anyway
            xs[i] = _variable(args[i])
        s = (fn(*xs) * weights).sum()
        wrt = [xs[i] for i in differentiable]
        if not s.requires_grad:
            return Value(np.zeros(sum(int(np.size(x.data)) for x in wrt)), requires_grad=False)
        grads = autograd.grad(s, wrt, create_graph=True)
        parts = [
            g.reshape(-1) if isinstance(g, Value) else Value(np.ravel(g), requires_grad=False) for g in grads
        ]
        return concatenate(parts)

    return gradcheck(
        first_derivatives,
        inputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        method=method,
        raise_exception=raise_exception,
    )
