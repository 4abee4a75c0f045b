"""Gradient checking: autograd against finite differences.

A finite difference estimates one column of the Jacobian per perturbed
input element:

    central:  ∂f/∂x_j ≈ (f(x + ε e_j) − f(x − ε e_j)) / 2ε    error O(ε²) + O(u/ε)
    forward:  ∂f/∂x_j ≈ (f(x + ε e_j) − f(x)) / ε              error O(ε)  + O(u/ε)

where u ≈ 1.1e-16 is float64's unit round-off. The first term (truncation)
shrinks with ε, the second (round-off: f is only known to about u·|f|)
grows, so the total error is smallest near ε ≈ u^(1/3) ≈ 1e-5 (central) or
ε ≈ u^(1/2) ≈ 1e-8 (forward). The default ε = 1e-6 with central differences
sits at the bottom of that valley.

An element passes when ``|autograd − numeric| <= atol + rtol·|numeric|``;
the *worst* element is the one furthest outside (or least inside) that
band, measured in multiples of the band's width.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .grad_mode import no_grad
from .value import Value

__all__ = ["GradcheckError", "GradcheckReport", "InputCheck", "gradcheck", "gradcheck_module"]

Method = Literal["central", "forward"]
Jacobian = Literal["full", "random"]

# Most perturbed copies of one input evaluated in a single batched call
# (in elements): bounds the memory of the batch, not its speed.
_MAX_BATCH_ELEMENTS = 1 << 20

# Most perturbed copies (rows) in one batched call of gradcheck. fn's
# intermediates, which grow with the batch, are unknown here; past a few
# hundred KiB they spill out of cache: on the iris network batches of 32
# copies run about twice as fast per copy as one batch of all 80.
_MAX_BATCH_ROWS = 32


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputCheck:
    """The comparison for one checked input (or one parameter of a module).

    ``analytic`` and ``numeric`` are the derivative of the checked output
    with respect to this input, of shape ``output_shape + input_shape``
    (``output_shape`` is ``()`` for a single-element output and for the
    random projection). ``worst_index`` is an index into the input,
    ``worst_output_index`` the output element it was differentiated from
    (``()`` for a scalar or projected output).
    """

    name: str
    shape: tuple[int, ...]
    analytic: np.ndarray
    numeric: np.ndarray
    atol: float
    rtol: float
    vectorized: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    worst_output_index: tuple[int, ...]
    worst_analytic: float
    worst_numeric: float
    num_failed: int
    passed: bool

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __bool__(self) -> bool:
        return self.passed


def _compare(
    name: str,
    analytic: np.ndarray,
    numeric: np.ndarray,
    out_shape: tuple[int, ...],
    in_shape: tuple[int, ...],
    atol: float,
    rtol: float,
    vectorized: bool,
) -> InputCheck:
    """Element-wise comparison of two (outputs, input elements) matrices."""
    a = analytic.reshape(-1)
    n = numeric.reshape(-1)
    with np.errstate(all="ignore"):
        diff = a - n
        if atol > 0 and np.isfinite(diff).all():
            # The usual case (a and n finite, every denominator >= atol > 0): the
            # general formulas below give the same numbers with fewer passes.
            abs_err = np.abs(diff)
            abs_n = np.abs(n)
            rel_err = abs_err / np.maximum(np.maximum(np.abs(a), abs_n), atol)
            band = atol + rtol * abs_n
            ok = abs_err <= band
            badness = abs_err / band
        else:
            finite = np.isfinite(a) & np.isfinite(n)
            # Anything non-finite is a failure: a gradient check at such a point means nothing.
            abs_err = np.where(finite, np.abs(diff), np.inf)
            scale = np.where(finite, np.maximum(np.abs(a), np.abs(n)), 0.0)
            denom = np.maximum(scale, atol)
            rel_err = np.where(abs_err == 0, 0.0, abs_err / np.where(denom > 0, denom, 1.0))
            rel_err = np.where((denom == 0) & (abs_err > 0), np.inf, rel_err)
            band = atol + rtol * np.where(finite, np.abs(n), 0.0)
            ok = abs_err <= band
            badness = np.where(abs_err == 0, 0.0, abs_err / np.where(band > 0, band, 1.0))
            badness = np.where((band == 0) & (abs_err > 0), np.inf, badness)
    if a.size == 0:
        return InputCheck(name, in_shape, analytic, numeric, atol, rtol, vectorized,
                          0.0, 0.0, (), (), math.nan, math.nan, 0, True)  # fmt: skip
    worst = int(np.argmax(badness))
    n_in = max(int(np.prod(in_shape, dtype=np.int64)), 1)
    out_flat, in_flat = divmod(worst, n_in)
    return InputCheck(
        name=name,
        shape=in_shape,
        analytic=analytic.reshape(out_shape + in_shape),
        numeric=numeric.reshape(out_shape + in_shape),
        atol=atol,
        rtol=rtol,
        vectorized=vectorized,
        max_abs_error=float(np.max(abs_err)),
        max_rel_error=float(np.max(rel_err)),
        worst_index=tuple(int(i) for i in np.unravel_index(in_flat, in_shape)) if in_shape else (),
        worst_output_index=tuple(int(i) for i in np.unravel_index(out_flat, out_shape)) if out_shape else (),
        worst_analytic=float(a[worst]),
        worst_numeric=float(n[worst]),
        num_failed=int(np.count_nonzero(~ok)),
        passed=bool(ok.all()),
    )


class GradcheckReport:
    """Outcome of :func:`gradcheck` / :func:`gradcheck_module`: truthy when every element passed.

    Index it by position or by name (``report["0.weight"]``) to get an
    :class:`InputCheck`; ``str(report)`` is a small table.
    """

    def __init__(
        self,
        checks: Sequence[InputCheck],
        *,
        method: str,
        eps: float,
        atol: float,
        rtol: float,
        output_shape: tuple[int, ...],
        jacobian: str,
        entry: str = "input",
    ) -> None:
        self.checks = list(checks)
        self.entry = entry  # what the checks are of: "input" or "parameter"
        self.method = method
        self.eps = eps
        self.atol = atol
        self.rtol = rtol
        self.output_shape = output_shape
        self.jacobian = jacobian

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[InputCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.checks), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.checks), default=0.0)

    def __bool__(self) -> bool:
        return self.passed

    def __len__(self) -> int:
        return len(self.checks)

    def __iter__(self) -> Iterator[InputCheck]:
        return iter(self.checks)

    def __getitem__(self, key: int | str) -> InputCheck:
        if isinstance(key, str):
            for c in self.checks:
                if c.name == key:
                    return c
            raise KeyError(f"gradcheck report: no input named {key!r} (have {[c.name for c in self.checks]})")
        return self.checks[key]

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.checks)} inputs)"
        return f"<GradcheckReport {state}, max abs error {self.max_abs_error:.3g}>"

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        how = "full Jacobian" if self.jacobian == "full" else "random projection of the output"
        head = (
            f"gradcheck {verdict}: {self.method} differences, eps={self.eps:g}, "
            f"atol={self.atol:g}, rtol={self.rtol:g}; output shape {self.output_shape} ({how})"
        )
        rows = [
            [self.entry, "shape", "max abs err", "max rel err", "worst element", "autograd", "numeric", "ok"]
        ]
        for c in self.checks:
            where_ = str(c.worst_index) if c.worst_index else "()"
            if c.worst_output_index:
                where_ += f" of output {c.worst_output_index}"
            rows.append([
                c.name,
                str(c.shape),
                f"{c.max_abs_error:.2e}",
                f"{c.max_rel_error:.2e}",
                where_ if c.size else "-",
                f"{c.worst_analytic:.10g}",
                f"{c.worst_numeric:.10g}",
                "yes" if c.passed else f"NO ({c.num_failed} bad)",
            ])  # fmt: skip
        return head + "\n" + format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; ``.report`` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report


# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


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


def _fd_batched(
    w: np.ndarray,
    evaluate_batch: Callable[[np.ndarray], np.ndarray],
    f0: np.ndarray,
    eps: float,
    method: str,
    per_chunk: int | None = None,
) -> np.ndarray:
    """The same columns from batched calls: row r of the batch is one perturbed copy of ``w``.

    Each call gets at most ``per_chunk`` perturbed elements (by default as
    many as keep the batch within ``_MAX_BATCH_ELEMENTS`` and
    ``_MAX_BATCH_ROWS``).
    """
    flat = w.reshape(-1)
    k = flat.size
    sides = 2 if method == "central" else 1
    if per_chunk is None:
        per_chunk = min(_MAX_BATCH_ELEMENTS // max(k * sides, 1), _MAX_BATCH_ROWS // sides)
    per_chunk = max(1, per_chunk)
    cols = np.empty((f0.size, k))
    for start in range(0, k, per_chunk):
        idx = np.arange(start, min(start + per_chunk, k))
        rows = np.repeat(flat[None, :], sides * idx.size, axis=0)
        pos = np.arange(idx.size)
        rows[pos, idx] += eps
        if sides == 2:
            rows[idx.size + pos, idx] -= eps
        out = evaluate_batch(rows.reshape((rows.shape[0], *w.shape)))
        up = rows[pos, idx]
        f_up = out[: idx.size]
        if sides == 2:
            down = rows[idx.size + pos, idx]
            f_down = out[idx.size :]
        else:
            down, f_down = flat[idx], f0[None, :]
        cols[:, idx] = ((f_up - f_down) / (up - down)[:, None]).T
    return cols


class _NotBatchable(ValueError):
    """fn's result for a batch of inputs does not have the batch shape."""


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------


def _check_options(who: str, eps: float, atol: float, rtol: float, method: str, jacobian: str) -> None:
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


def _probe_copies(w: np.ndarray) -> list[np.ndarray]:
    """``w`` and two distinct copies of it for a probe of batching.

    Each copy moves every element away from zero by 0.5-1% of max(|x|, 1):
    far more than ε, so a function that mixes the rows of a batch (a sum
    over all axes, a reversal of the leading axis) cannot match to 1e-9 by
    accident, while signs, and so domains such as x > 0, are kept.
    """
    away = np.where(w >= 0, 1.0, -1.0) * np.maximum(np.abs(w), 1.0)
    # Irregular factors in [0.5, 1) without the cost of a generator: the
    # fractional parts of k·α for two irrational α (Weyl sequences).
    k = np.arange(1.0, w.size + 1.0).reshape(w.shape)
    return [
        w,
        *(w + 0.01 * (0.5 + 0.5 * ((k * a) % 1.0)) * away for a in (0.6180339887498949, 0.4142135623730951)),
    ]


def _agrees(got: np.ndarray, want: Sequence[np.ndarray]) -> bool:
    """Batched results (one row per copy) equal single ones to 1e-9, all finite."""
    f = np.stack(want)
    g = np.asarray(got, dtype=np.float64)
    if g.size != f.size or not (np.isfinite(f).all() and np.isfinite(g).all()):
        return False
    g = g.reshape(f.shape)
    # Per copy: |g − f| <= 1e-9 |f| + 1e-12 max(|f|, 1), a copy's largest output setting the floor.
    scale = np.abs(f).max(axis=1, keepdims=True, initial=1.0)
    return bool(np.all(np.abs(g - f) <= 1e-9 * np.abs(f) + 1e-12 * scale))


def _batch_agrees(
    w: np.ndarray,
    evaluate_batch: Callable[[np.ndarray], np.ndarray],
    evaluate_one: Callable[[np.ndarray], np.ndarray],
    f0: np.ndarray,
) -> bool:
    """Does fn treat a leading axis on this input as a batch? Probe with three copies.

    A batched call on the copies of :func:`_probe_copies` must match single
    calls; any error, warning or non-finite output means "not batchable".
    """
    copies = _probe_copies(w)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = evaluate_batch(np.stack(copies))
            want = [f0, *(evaluate_one(c) for c in copies[1:])]
    except Exception:  # any failure just means "not batchable": fall back to the loop
        return False
    return _agrees(got, want)


def _finish(
    checks: list[InputCheck],
    method: str,
    eps: float,
    atol: float,
    rtol: float,
    out_shape: tuple[int, ...],
    jacobian: str,
    raise_exception: bool,
    entry: str = "input",
) -> GradcheckReport:
    report = GradcheckReport(
        checks,
        method=method,
        eps=eps,
        atol=atol,
        rtol=rtol,
        output_shape=out_shape,
        jacobian=jacobian,
        entry=entry,
    )
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


# ---------------------------------------------------------------------------
# gradcheck_module
# ---------------------------------------------------------------------------

# Most elements in the largest per-copy array of one batched call (copies
# times that array's size). 256 KiB of float64 stays in a core's cache: on
# the iris network such batches run about 3x faster per copy than a single
# batch of all the copies, whose activations spill out of it.
_MODULE_BATCH_ELEMENTS = 1 << 15

# A batched parameter costs a probe (two single evaluations and a batch of
# three): below this many perturbed copies the loop is cheaper. 0-d and
# one-element parameters (a scalar-Value MLP has only those) are looped.
_MIN_BATCH_COPIES = 4


def _bind(w: np.ndarray) -> Any:
    """A parameter's ``.data`` for the float64 array ``w`` (the engine keeps 0-d float64 as a float)."""
    return float(w) if w.ndim == 0 else w


def _with_batch_axis(x: Any, n: int) -> Any:
    """``x`` repeated ``n`` times along a new leading axis (a read-only view); None if x is not numeric."""
    if isinstance(x, Value):
        v = x.detach()
        v.data = np.broadcast_to(x.data, (n, *x.shape))
        return v
    if x is None or isinstance(x, (str, bytes)):
        return None
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return np.broadcast_to(arr, (n, *arr.shape))


def _size(x: Any) -> int:
    """Elements of a layer's output (1 for anything that is not an array)."""
    if isinstance(x, Value):
        return x.size
    return x.size if isinstance(x, np.ndarray) else 1


def _squares_scale(loss_fn: Any) -> Callable[[int], float] | None:
    """For the library's squared-error losses (default reduction), E = scale(size) · Σ (O − t)²."""
    from .nn import losses  # not at the top: gradcheck must not need nn to be importable

    if loss_fn is losses.sse_loss:
        return lambda size: 0.5
    if loss_fn is losses.mse_loss:
        return lambda size: 1.0 / size
    return None


@dataclass(frozen=True)
class _Plan:
    """How to evaluate E for a batch of copies of one parameter.

    ``layers`` run in turn on ``inp`` (the model itself, or the layers of a
    Sequential from the first one that holds the parameter on, fed that
    layer's input); ``batch_input`` gives ``inp`` the leading batch axis.
    ``lift`` 1-axes go between the batch axis and the parameter's own.
    ``squares`` computes a squared-error loss for all rows at once instead
    of calling it per row.
    """

    layers: tuple[Callable[[Any], Any], ...]
    inp: Any
    batch_input: bool
    lift: int
    squares: bool
    per_copy: int  # elements of the largest array one copy makes (an estimate)


class _ModuleLoss:
    """E = loss_fn(model(x), t) with the parameters as they are, single or batched."""

    def __init__(self, model: Any, loss_fn: Callable[[Any, Any], Value], x: Any, t: Any) -> None:
        self.model, self.loss_fn, self.x, self.t = model, loss_fn, x, t
        self.out_shape: tuple[int, ...] | None = None  # the model output's shape, if it is a Value
        self.out_type = ""
        self._scale = _squares_scale(loss_fn)
        self._targets: dict[np.dtype[Any], np.ndarray | None] = {}
        self._layers: list[Any] | None = None
        self._owner: dict[int, int] = {}
        self._outputs: list[Any] | None = None

    def loss_of(self, out: Any) -> Value:
        e = self.loss_fn(out, self.t)
        if not isinstance(e, Value) or e.size != 1:
            got = f"shape {e.shape}" if isinstance(e, Value) else type(e).__name__
            raise ValueError(f"gradcheck_module: loss_fn must return a single-element Value, got {got}")
        return e

    def single(self) -> np.ndarray:
        with no_grad():
            return _output_data(self.loss_of(self.model(self.x)), "gradcheck_module")

    # -- batched evaluation -------------------------------------------------------
    def plans(self, p: Any, w: np.ndarray) -> list[_Plan]:
        """Ways to batch ``p``, the likeliest first (none if the model does not return a Value)."""
        if self.out_shape is None:
            return []
        if self._outputs is None:
            self._outputs = self._layer_outputs()
        if self._layers is not None:
            start = self._owner.get(id(p), 0)
            layers: tuple[Callable[[Any], Any], ...] = tuple(self._layers[start:])
            inp = self._outputs[start]
            per_copy = max(_size(h) for h in self._outputs[start + 1 :])
        else:
            layers, inp = (self.model,), self.x
            per_copy = max(_size(self.x), int(np.prod(self.out_shape, dtype=np.int64)))
        lift = max(len(self.out_shape) - w.ndim, 0)
        per_copy = max(per_copy, w.size, 1)
        inputs = [True, False] if _with_batch_axis(inp, 1) is not None else [False]
        losses = [True, False] if self._scale is not None and self.out_shape else [False]
        return [_Plan(layers, inp, b, lift, sq, per_copy) for b in inputs for sq in losses]

    def _layer_outputs(self) -> list[Any]:
        """For a plain Sequential: x and every layer's output (at the unperturbed parameters)."""
        from .nn.containers import Sequential

        model = self.model
        if not (isinstance(model, Sequential) and type(model).__call__ is Sequential.__call__):
            return [self.x]
        self._layers = list(model.children())
        for i, layer in enumerate(self._layers):
            for q in layer.parameters():
                self._owner.setdefault(id(q), i)
        outputs = [self.x]
        with no_grad():
            for layer in self._layers:
                outputs.append(layer(outputs[-1]))
        return outputs

    def batch(self, p: Any, w: np.ndarray, rows: np.ndarray, plan: _Plan) -> np.ndarray:
        """E for each row of ``rows`` (copies of ``p``'s data), as an (n, 1) array; ``p`` is restored."""
        n = rows.shape[0]
        assert self.out_shape is not None
        want = (n, *self.out_shape)
        p.data = rows.reshape((n,) + (1,) * plan.lift + w.shape)
        try:
            with no_grad():
                h = _with_batch_axis(plan.inp, n) if plan.batch_input else plan.inp
                for layer in plan.layers:
                    h = layer(h)
                if not isinstance(h, Value) or h.shape != want:
                    got = h.shape if isinstance(h, Value) else type(h).__name__
                    raise _NotBatchable(
                        f"the model must map a batch of {n} copies (data of shape {p.data.shape}) "
                        f"to shape {want}, got {got}"
                    )
                if plan.squares:
                    return self._squares(h.data)
                return self._per_row(p, rows, h)
        finally:
            p.data = _bind(w)

    def _per_row(self, p: Any, rows: np.ndarray, h: Value) -> np.ndarray:
        """loss_fn on each row of the batched output ``h``, with ``p`` set to that row's copy."""
        data = h.data
        scalar = data.ndim == 1 and data.dtype == np.float64  # rows are Python floats
        piece = h.detach()  # a constant to copy per row, with the row's data
        values = np.empty((rows.shape[0], 1))
        for r in range(rows.shape[0]):
            p.data = _bind(rows[r])  # the loss may read the parameter too (a weight penalty)
            row = piece.detach()
            row.data = float(data[r]) if scalar else data[r, ...]  # a view, 0-d included
            values[r] = _output_data(self.loss_of(row), "gradcheck_module")
        return values

    def _squares(self, data: np.ndarray) -> np.ndarray:
        """scale · Σ (O − t)² per row, computed as the loss computes it for one row (so bit for bit)."""
        target = self._target(data.dtype)
        if target is None:
            raise _NotBatchable(f"the target does not fit the model output of shape {self.out_shape}")
        assert self._scale is not None
        scale = data.dtype.type(self._scale(target.size))
        d = data - target
        return np.array([[scale * np.vdot(row, row)] for row in d], dtype=np.float64)

    def _target(self, dtype: np.dtype[Any]) -> np.ndarray | None:
        if dtype not in self._targets:
            t = self.t.data if isinstance(self.t, Value) else self.t
            try:
                arr = np.asarray(t)
            except (TypeError, ValueError):
                arr = np.empty(0, dtype=object)
            ok = arr.dtype.kind in "biuf" and arr.shape == self.out_shape
            self._targets[dtype] = arr.astype(dtype) if ok else None
        return self._targets[dtype]

    def batched_differences(
        self,
        name: str,
        p: Any,
        w: np.ndarray,
        f0: np.ndarray,
        eps: float,
        method: str,
        vectorized: bool | None,
    ) -> np.ndarray | None:
        """Finite differences for ``p`` from batched calls, or None where the model does not batch.

        Unless ``vectorized`` is True, the first batched call of a plan also
        carries the three probe copies (see :func:`_probe_copies`), whose E
        must match single evaluations before any difference is trusted.
        """
        plans = self.plans(p, w)
        if not plans:
            if vectorized:
                raise TypeError(
                    f"gradcheck_module: vectorized=True needs a model that returns a Value, "
                    f"{type(self.model).__name__} returned {self.out_type} (checking {name!r})"
                )
            return None
        sides = 2 if method == "central" else 1
        if vectorized:
            plan = plans[0]
            batch = functools.partial(self.batch, p, w, plan=plan)
            try:
                return _fd_batched(
                    w, batch, f0, eps, method, _MODULE_BATCH_ELEMENTS // (sides * plan.per_copy)
                )
            except _NotBatchable as exc:
                raise _NotBatchable(
                    f"gradcheck_module: with vectorized=True, parameter {name!r}: {exc}"
                ) from None
        copies = _probe_copies(w)
        singles: list[np.ndarray] = []
        for plan in plans:
            probed = [False]

            def evaluate(rows: np.ndarray, plan: _Plan = plan, probed: list[bool] = probed) -> np.ndarray:
                if probed[0]:
                    return self.batch(p, w, rows, plan)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a warning, too, means "not this way"
                    got = self.batch(p, w, np.concatenate([np.stack(copies), rows]), plan)
                    if not singles:  # once a batch works, and once for all plans
                        singles.extend([f0, *(self._single_at(p, w, plan, c) for c in copies[1:])])
                if not _agrees(got[: len(copies)], singles):
                    raise _NotBatchable("batched and single evaluations differ")
                probed[0] = True
                return got[len(copies) :]

            try:
                return _fd_batched(
                    w, evaluate, f0, eps, method, _MODULE_BATCH_ELEMENTS // (sides * plan.per_copy)
                )
            except Exception:  # any failure means "not this way"
                if probed[0]:
                    return None  # the probe was fooled (its batch fit where a later one did not): loop
        return None

    def _single_at(self, p: Any, w: np.ndarray, plan: _Plan, data: np.ndarray) -> np.ndarray:
        """E with ``p`` set to ``data``, one forward pass of ``plan``'s layers (no batch)."""
        p.data = _bind(data)
        try:
            with no_grad():
                h = plan.inp
                for layer in plan.layers:
                    h = layer(h)
                return _output_data(self.loss_of(h), "gradcheck_module")
        finally:
            p.data = _bind(w)


def gradcheck_module(
    model: Any,
    loss_fn: Callable[[Any, Any], Value],
    x: Any,
    t: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    method: Method = "central",
    raise_exception: bool = True,
    vectorized: bool | None = None,
) -> GradcheckReport:
    """Check ∂E/∂θ for every parameter θ of ``model``, with E = ``loss_fn(model(x), t)``.

    E must be a single-element Value. During the check each parameter that
    requires grad has its ``.data`` swapped for a float64 working copy;
    afterwards, even if the model or the loss raises, every parameter gets
    back its original data object (untouched, whatever its dtype) and its
    original ``.grad``. Report entries are named as in
    ``model.named_parameters()``. Options as in :func:`gradcheck`.

    **Vectorized perturbations.** A parameter θ of shape S is perturbed in
    batches: its data becomes a stack of n perturbed copies, shape (n, 1, …,
    1, *S) with as many 1s as the model's output has more axes than S (a
    Dense weight (n, in, out), its bias (n, 1, out)), and the model's input
    gets a leading batch axis too (a read-only view), so ``model`` returns
    (n, *output shape) in one call. E of copy r is then
    ``loss_fn(output[r], t)``, run with θ set to copy r (a loss may read
    the parameters): n loss calls instead of n forward passes. For
    ``nn.sse_loss`` and ``nn.mse_loss`` themselves the n losses are
    computed together, with the loss's own formula (scale · Σ (O − t)²). For
    a plain :class:`~tinygrad_nn.nn.Sequential` only the layers from the
    first one holding θ run on the batch; the output of those before it is
    computed once. Batches are kept small enough to stay in cache.

    ``vectorized=None`` (default) decides per parameter: parameters with
    fewer than 4 perturbed copies (0-d ones, say, and so every parameter of
    a scalar-Value MLP) are looped; the others are batched if a probe
    agrees: the first batch also holds three distinct copies θ, θ′, θ″ far
    apart (0.5-1%), whose E must match f(θ) and two single evaluations to
    1e-9. Else, or if a later batch fails, the parameter is looped, one
    element and forward pass at a time. The differences then agree with the
    loop's to round-off (on common BLAS builds, bit for bit).
    ``vectorized=True`` batches every parameter without a probe (a model
    that does not batch is then an error), ``False`` always loops.
    ``report[name].vectorized`` says which way each parameter went.
    """
    _check_options("gradcheck_module", eps, atol, rtol, method, "full")
    if not callable(loss_fn):
        raise TypeError(f"gradcheck_module: loss_fn must be callable, got {type(loss_fn).__name__}")
    if vectorized not in (None, True, False):
        raise ValueError(f"gradcheck_module: vectorized must be None, True or False, got {vectorized!r}")
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"gradcheck_module: {type(model).__name__} has no parameter that requires grad")

    # Only the parameters are checked: Value inputs and targets are used as
    # constants, so their .grad is left alone.
    x = x.detach() if isinstance(x, Value) else x
    t = t.detach() if isinstance(t, Value) else t
    evaluator = _ModuleLoss(model, loss_fn, x, t)
    sides = 2 if method == "central" else 1
    saved = [(p, p.data, p.grad) for _, p in named]
    work = [np.array(p.data, dtype=np.float64) for _, p in named]
    try:
        for (_, p), w in zip(named, work, strict=True):
            p.data = _bind(w)
            p.grad = None
        out = model(x)
        e = evaluator.loss_of(out)
        f0 = _output_data(e, "gradcheck_module")
        evaluator.out_type = type(out).__name__
        if isinstance(out, Value):
            evaluator.out_shape = out.shape
        if e.requires_grad:
            e.backward()
        del out, e  # the graph is not needed any more
        checks = []
        for (name, p), w in zip(named, work, strict=True):
            grad = np.zeros(w.shape) if p.grad is None else np.asarray(p.grad, dtype=np.float64)
            numeric = None
            if vectorized or (vectorized is None and w.size * sides >= _MIN_BATCH_COPIES):
                numeric = evaluator.batched_differences(name, p, w, f0, eps, method, vectorized)
            batched = numeric is not None
            if numeric is None:

                def evaluate(p: Any = p, w: np.ndarray = w) -> np.ndarray:
                    if w.ndim == 0:  # the float in .data is a copy: refresh it from w
                        p.data = float(w)
                    return evaluator.single()

                try:
                    numeric = _fd_loop(w, evaluate, f0, eps, method)
                finally:
                    p.data = _bind(w)  # a 0-d one would keep its last perturbed value
            checks.append(_compare(name, grad.reshape(1, -1), numeric, (), w.shape, atol, rtol, batched))
    finally:
        for p, data, grad in saved:
            p.data = data
            p.grad = grad
    return _finish(checks, method, eps, atol, rtol, (), "full", raise_exception, entry="parameter")
