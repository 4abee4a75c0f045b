"""Function transforms built on double backprop: grad, jacobian, hessian, hvp.

Each transform differentiates with ``create_graph=True``, so its results are
Values with graphs and the transforms compose: ``grad(grad(f))`` is f''.
Shapes follow JAX: ``jacobian(f)(x)`` has shape ``f(x).shape + x.shape``,
``hessian(f)(x)`` has ``x.shape + x.shape`` and ``hvp(f, x, v)`` has x's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from . import autograd
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
