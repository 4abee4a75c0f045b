"""gradcheck: autograd against finite differences, for any function of Values.

A finite difference estimates one column of the Jacobian per perturbed
input element:

    central:  ∂f/∂x_j ≈ (f(x + ε e_j) − f(x − ε e_j)) / 2ε    error O(ε²) + O(u/ε)
    forward:  ∂f/∂x_j ≈ (f(x + ε e_j) − f(x)) / ε              error O(ε)  + O(u/ε)

where u ≈ 1.1e-16 is float64's unit round-off. The first term (truncation)
shrinks with ε, the second (round-off: f is only known to about u·|f|)
grows, so the total error is smallest near ε ≈ u^(1/3) ≈ 1e-5 (central) or
ε ≈ u^(1/2) ≈ 1e-8 (forward). The default ε = 1e-6 with central differences
sits at the bottom of that valley.

:func:`_fd_loop` below is that formula, one element at a time; the
batched path (:mod:`tinygrad_nn.gradcheck.batched`) computes the same
columns with fewer calls when the function allows it. The comparison of
the two Jacobians is in :mod:`tinygrad_nn.gradcheck.report`.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from ..value import Value
from .batched import _batch_agrees, _fd_batched, _NotBatchable
from .report import GradcheckReport, _compare, _finish

__all__ = ["gradcheck"]

Method = Literal["central", "forward"]
Jacobian = Literal["full", "random"]


def _fd_loop(
    w: np.ndarray, evaluate: Callable[[], np.ndarray], f0: np.ndarray, eps: float, method: str
) -> np.ndarray:
    """Columns of the Jacobian, one perturbed element at a time.

    ``w`` is changed in place and ``evaluate`` reads it; each element is put
    back to its saved value (bit for bit) before the next one.
    """
    flat = w.reshape(-1)  # a view: w is a fresh contiguous array
    cols = np.empty((f0.size, flat.size))
    for j in range(flat.size):
        orig = flat[j]
        try:
            flat[j] = orig + eps
            up = flat[j]
            f_up = evaluate()
            if method == "central":
                flat[j] = orig - eps
                down = flat[j]
                f_down = evaluate()
            else:
                down, f_down = orig, f0
        finally:
            flat[j] = orig
        # Divide by the step actually taken (x + ε is rounded), not by ε.
        cols[:, j] = (f_up - f_down) / (up - down)
    return cols


def _check_options(who: str, eps: float, atol: float, rtol: float, method: str, jacobian: str) -> None:
    """Raise ValueError, naming ``who`` and the option, for the first option out of its range."""
    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"{who}: eps must be a positive finite number, got {eps!r}")
    for label, tol in (("atol", atol), ("rtol", rtol)):
        if not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"{who}: {label} must be a finite number >= 0, got {tol!r}")
    if method not in ("central", "forward"):
        raise ValueError(f"{who}: method must be 'central' or 'forward', got {method!r}")
    if jacobian not in ("full", "random"):
        raise ValueError(f"{who}: jacobian must be 'full' or 'random', got {jacobian!r}")


def _as_input(x: Any, k: int) -> tuple[np.ndarray, bool]:
    """float64 working copy of input ``k`` and whether it is checked."""
    if isinstance(x, Value):
        return np.array(x.data, dtype=np.float64), x.requires_grad
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"gradcheck: inputs[{k}] must be a Value or a numeric array, got {type(x).__name__}")
    try:
        arr = np.array(x)
    except (TypeError, ValueError):
        raise TypeError(
            f"gradcheck: inputs[{k}] must be a Value or a numeric array, got {type(x).__name__}"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"gradcheck: inputs[{k}] must be numeric, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64), True


def _output_data(out: Any, who: str) -> np.ndarray:
    """The function's result as a flat float64 array; TypeError naming ``who`` if it is no Value."""
    if not isinstance(out, Value):
        raise TypeError(f"{who}: the function must return a Value, got {type(out).__name__}")
    return np.asarray(out.data, dtype=np.float64).reshape(-1)


def gradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Any] | Value | np.ndarray,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    method: Method = "central",
    raise_exception: bool = True,
    jacobian: Jacobian = "full",
    vectorized: bool | None = None,
) -> GradcheckReport:
    """Compare the gradients autograd computes for ``fn(*inputs)`` with finite differences.

    ``inputs`` is a sequence of Values or arrays (a single Value or array is
    taken as one input). Arrays and numbers become float64 Values that
    require grad; Values are checked if they require grad and held fixed
    otherwise. Everything runs on float64 *copies*: a float32 Value is
    checked as float64 (float32 round-off, ~6e-8, would swamp any useful ε),
    and the caller's Values, data and ``.grad`` are never touched (Values
    that ``fn`` closes over and that require grad, such as a model's
    parameters, do get ``.grad`` from the one autograd pass).

    Outputs of any shape are checked through their **full Jacobian**: finite
    differences give every output's change per perturbation anyway, and
    autograd gives row i of the Jacobian from ``backward(grad=e_i)``, one
    backward pass per output element. That localizes a wrong derivative to an
    (output, input) pair, and no error can cancel out. For large outputs
    ``jacobian="random"`` instead checks ``v·J`` for a fixed random normal
    ``v`` (a single backward pass; a wrong Jacobian passes only if its error
    happens to be orthogonal to ``v``, which has probability zero).

    Perturbations are vectorized when ``fn`` accepts a leading batch axis on
    one input (the others unbatched) and then returns ``(batch, *output
    shape)``: elementwise maths, ``@``, reductions over negative axes usually
    do. ``vectorized=None`` (default) finds out per input by a probe: one
    batched call on three distinct copies of the input must match three
    unbatched calls (to 1e-9), else that input falls back to a loop of
    single calls. ``vectorized=True`` skips the probe (a wrongly shaped
    batched result is then an error), ``False`` always loops. A batched
    call holds at most 32 copies (larger batches spill out of cache).

    Returns a :class:`GradcheckReport` (truthy on success, per input the max
    absolute and relative error and the worst element). On failure raises
    :class:`GradcheckError` carrying the report, or returns the (falsy)
    report when ``raise_exception=False``. The relative error of an element
    is ``|a − n| / max(|a|, |n|, atol)``.

    >>> report = gradcheck(lambda x: (x * x.detach()).sum(), [np.array([1.0, -2.0])],
    ...                    raise_exception=False)
    >>> check = report[0]  # autograd says x, the truth is 2x: worst where |x| is largest
    >>> bool(report), check.worst_index, check.worst_analytic, round(check.worst_numeric, 6)
    (False, (1,), -2.0, -4.0)
    """
    _check_options("gradcheck", eps, atol, rtol, method, jacobian)
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be callable, got {type(fn).__name__}")
    if isinstance(inputs, (Value, np.ndarray, numbers.Real)):
        inputs = (inputs,)
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise TypeError(
            f"gradcheck: inputs must be a sequence of Values or arrays, got {type(inputs).__name__}"
        )
    work = [_as_input(x, k) for k, x in enumerate(inputs)]
    if not any(rg for _, rg in work):
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")

    leaves = [Value(w, requires_grad=rg) for w, rg in work]
    out = fn(*leaves)
    f0 = _output_data(out, "gradcheck")
    out_shape = out.shape
    analytic = _analytic([leaf for leaf in leaves if leaf.requires_grad], out, jacobian)
    projection = _projection(out_shape) if jacobian == "random" else None
    shown_out_shape = out_shape if jacobian == "full" else ()

    # Finite differences call fn on constants only, so nothing is recorded, yet
    # fn may still build and differentiate graphs of its own (second derivatives).
    consts = [Value(w, requires_grad=False) for w, _ in work]

    def call(i: int, data: np.ndarray) -> Value:
        args: list[Any] = list(consts)
        args[i] = Value(data, requires_grad=False)
        return fn(*args)

    checks = []
    grad_rows = iter(analytic)
    for i, (w, rg) in enumerate(work):
        if not rg:
            continue

        def evaluate_batch(batch: np.ndarray, i: int = i) -> np.ndarray:
            res = call(i, batch)
            if not isinstance(res, Value) or res.shape != (batch.shape[0], *out_shape):
                got = res.shape if isinstance(res, Value) else type(res).__name__
                raise _NotBatchable(
                    f"gradcheck: with vectorized=True, fn must map a batch of {batch.shape[0]} copies of "
                    f"inputs[{i}] (shape {batch.shape}) to shape {(batch.shape[0], *out_shape)}, got {got}"
                )
            return np.asarray(res.data, dtype=np.float64).reshape(batch.shape[0], -1)

        def evaluate_one(data: np.ndarray, i: int = i) -> np.ndarray:
            return _output_data(call(i, data), "gradcheck")

        batched = vectorized
        if batched is None:
            batched = _batch_agrees(w, evaluate_batch, evaluate_one, f0)
        if batched:
            try:
                numeric = _fd_batched(w, evaluate_batch, f0, eps, method)
            except Exception:
                if vectorized:  # declared batchable: the error is the caller's to see
                    raise
                batched = False  # the probe was fooled (a batch of 3 fits where others do not)
        if not batched:
            wk = w.copy()
            numeric = _fd_loop(wk, functools.partial(evaluate_one, wk), f0, eps, method)
        if projection is not None:
            numeric = projection @ numeric
        name = f"inputs[{i}]"
        checks.append(
            _compare(name, next(grad_rows), numeric, shown_out_shape, w.shape, atol, rtol, bool(batched))
        )
    return _finish(checks, method, eps, atol, rtol, out_shape, jacobian, raise_exception)


def _projection(out_shape: tuple[int, ...]) -> np.ndarray:
    # Fixed seed: a failing check fails the same way on every run.
    return np.random.default_rng(0).standard_normal((1, int(np.prod(out_shape, dtype=np.int64))))


def _analytic(leaves: list[Value], out: Value, jacobian: str) -> list[np.ndarray]:
    """Per leaf, the Jacobian (outputs, leaf elements) from backward passes (or v·J when random)."""
    m = out.size
    if jacobian == "random":
        seeds = [_projection(out.shape).reshape(out.shape)]
    elif m == 1:
        seeds = [np.ones(out.shape)]
    else:
        seeds = [np.eye(1, m, r).reshape(out.shape) for r in range(m)]
    result = [np.zeros((len(seeds), leaf.size)) for leaf in leaves]
    if not out.requires_grad:  # fn ignored its inputs' graph: autograd says "zero"
        return result
    for r, seed in enumerate(seeds):
        for leaf in leaves:
            leaf.grad = None
        out.backward(grad=seed)
        for leaf, jac in zip(leaves, result, strict=True):
            if leaf.grad is not None:
                jac[r] = np.asarray(leaf.grad, dtype=np.float64).reshape(-1)
    return result
