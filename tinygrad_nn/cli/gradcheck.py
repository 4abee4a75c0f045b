"""``tinygrad-nn gradcheck``: autograd against the closed-form δ rules and finite differences.

On a Dense network with a batch of random inputs and targets, the gradient
of E = ½ Σ (O − t)² from autograd is compared, parameter by parameter, with
:func:`tinygrad_nn.backprop.gradients` and with
:func:`~tinygrad_nn.gradcheck.gradcheck_module`; ``--sweep`` shows how the
finite-difference error depends on eps.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .arguments import (
    PROG,
    Subcommands,
    UsageError,
    _int_at_least,
    layer_sizes,
    nonnegative_float,
    positive_float,
)

__all__ = ["add_gradcheck", "run_gradcheck"]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
"""The ``--activation`` choices: those whose δ rule :mod:`tinygrad_nn.backprop` knows."""

SWEEP_EPS = [10.0**-k for k in range(1, 13)]
"""The eps values of ``--sweep``."""

DELTA_RTOL = 1e-10
"""Tolerance of autograd against the δ rules: they do the same sums, so they agree to round-off."""


def add_gradcheck(subcommands: Subcommands) -> None:
    """Register the ``gradcheck`` command."""
    p = subcommands.add_parser(
        "gradcheck",
        help="check autograd against closed-form backprop and finite differences on a Dense network",
        description=(
            "Build a Dense network with the given layer sizes, draw a batch of inputs and targets, and "
            "compare the gradient of E = 1/2 sum (O - t)^2 from autograd with the closed-form delta "
            "backprop and with finite differences, parameter by parameter."
        ),
    )
    p.add_argument("--layers", type=layer_sizes, default=[4, 10, 3], metavar="N,N,...",
                   help="layer sizes, input first (default: 4,10,3)")  # fmt: skip
    p.add_argument("--activation", choices=ACTIVATIONS, default="tanh",
                   help="activation of the hidden layers (default: tanh)")  # fmt: skip
    p.add_argument("--output-activation", choices=ACTIVATIONS, default=None,
                   help="activation of the output layer (default: the same as --activation)")  # fmt: skip
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="seed for weights and data (default: 0)")
    p.add_argument("--batch", type=_int_at_least(1), default=8, help="examples in the batch (default: 8)")
    p.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                   help="E summed over the batch, or its mean over the examples (default: sum)")  # fmt: skip
    p.add_argument("--eps", type=positive_float, default=1e-6, help="finite-difference step (default: 1e-6)")
    p.add_argument("--method", choices=("central", "forward"), default="central",
                   help="finite-difference formula (default: central)")  # fmt: skip
    p.add_argument("--atol", type=nonnegative_float, default=1e-5, help="absolute tolerance (default: 1e-5)")
    p.add_argument("--rtol", type=nonnegative_float, default=1e-3, help="relative tolerance (default: 1e-3)")
    p.add_argument("--sweep", action="store_true",
                   help="also vary eps from 1e-1 to 1e-12 for forward and central differences")  # fmt: skip
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="with --sweep: save a log-log plot of the sweep (PNG; needs matplotlib)")  # fmt: skip
    p.set_defaults(run=run_gradcheck)


def _build_network(sizes: Sequence[int], hidden: str, output: str, rng: np.random.Generator) -> Any:
    """The checked network: every layer Xavier-initialized from ``rng``, as this command always drew it.

    "identity" puts no module after its layers (a linear unit, for the δ rules the same as nn.Identity).
    """
    from .. import nn

    def module(name: str) -> str | None:
        return None if name == "identity" else name

    return nn.mlp(sizes, module(hidden), module(output), init="xavier_uniform", rng=rng)


def _rel(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    """max |a − b| / max(|a|, |b|, floor), the relative error gradcheck reports."""
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    diff = np.abs(a - b)
    return float(np.max(np.where(denom > 0, diff / np.where(denom > 0, denom, 1.0), 0.0), initial=0.0))


def run_gradcheck(args: argparse.Namespace) -> int:
    """Run ``gradcheck``: print the comparison table; 0 when every parameter passes, else 1."""
    from .. import backprop, nn
    from ..gradcheck import format_table, gradcheck_module

    if args.plot is not None and not args.sweep:
        raise UsageError(f"{PROG} gradcheck: error: --plot needs --sweep")
    output = args.output_activation or args.activation
    rng = np.random.default_rng(args.seed)
    model = _build_network(args.layers, args.activation, output, rng)
    x = rng.standard_normal((args.batch, args.layers[0]))
    low = 0.0 if output == "sigmoid" else -1.0  # targets the output units can reach
    t = rng.uniform(low, 1.0, size=(args.batch, args.layers[-1]))

    def loss(o: Any, target: Any) -> Any:
        return nn.sse_loss(o, target, reduction=args.reduction)

    model.zero_grad()
    loss(model(x), t).backward()
    autograd = {name: np.asarray(p.grad) for name, p in model.named_parameters()}
    closed_form = backprop.gradients(model, x, t, reduction=args.reduction)
    report = gradcheck_module(
        model, loss, x, t, eps=args.eps, atol=args.atol, rtol=args.rtol, method=args.method,
        raise_exception=False,
    )  # fmt: skip

    arch = "-".join(str(n) for n in args.layers)
    err = "1/2 sum (O - t)^2" + (" / batch" if args.reduction == "mean" else "")
    print(f"gradcheck: {arch} network, {args.activation} hidden units, {output} outputs, "
          f"E = {err}, batch {args.batch}, seed {args.seed}")  # fmt: skip
    print(f"delta:  autograd vs closed-form backprop, pass if |autograd - delta| <= "
          f"{DELTA_RTOL:g} * (|delta| + max |delta|)")  # fmt: skip
    print(f"FD:     autograd vs {args.method} differences (eps={args.eps:g}), pass if "
          f"|autograd - FD| <= {args.atol:g} + {args.rtol:g} * |FD|")  # fmt: skip
    print(f"rel:    |a - b| / max(|a|, |b|, {args.atol:g})")
    print()
    rows = [["parameter", "shape", "max|autograd-delta|", "rel", "max|autograd-FD|", "rel", "pass"]]
    failed = 0
    for name, a in autograd.items():
        d = closed_form[name]
        check = report[name]
        delta_err = float(np.max(np.abs(a - d), initial=0.0))
        delta_ok = bool(np.all(np.abs(a - d) <= DELTA_RTOL * (np.abs(d) + np.max(np.abs(d), initial=0.0))))
        ok = delta_ok and check.passed
        failed += not ok
        verdict = "pass" if ok else "FAIL" + ("" if delta_ok else " delta") + ("" if check.passed else " FD")
        rows.append([name, str(a.shape), f"{delta_err:.2e}", f"{_rel(a, d, args.atol):.2e}",
                     f"{check.max_abs_error:.2e}", f"{check.max_rel_error:.2e}", verdict])  # fmt: skip
    print(format_table(rows))
    print()
    n = len(rows) - 1
    print(f"all {n} parameters pass" if not failed else f"{failed} of {n} parameters FAIL")

    if args.sweep:
        _sweep(model, loss, x, t, args.plot)
    return 1 if failed else 0


def _sweep(
    model: Any, loss: Callable[[Any, Any], Any], x: np.ndarray, t: np.ndarray, plot: str | None
) -> None:
    from ..gradcheck import format_table, gradcheck_module

    errors: dict[str, list[float]] = {"forward": [], "central": []}
    for eps in SWEEP_EPS:
        for method, errs in errors.items():
            rep = gradcheck_module(model, loss, x, t, eps=eps, method=method, raise_exception=False)  # type: ignore[arg-type]
            errs.append(rep.max_abs_error)
    print()
    print("eps sweep: max |autograd - FD| over all parameters (truncation error falls with eps,")
    print("round-off error u*|E|/eps grows as eps shrinks; * marks each method's best eps)")
    rows = [["eps", "forward", "central"]]
    best = {m: int(np.argmin(e)) for m, e in errors.items()}
    for i, eps in enumerate(SWEEP_EPS):
        cells = [f"{errors[m][i]:.2e}" + (" *" if best[m] == i else "") for m in ("forward", "central")]
        rows.append([f"{eps:.0e}", *cells])
    print(format_table(rows))
    print(f"best eps: forward {SWEEP_EPS[best['forward']]:.0e}, central {SWEEP_EPS[best['central']]:.0e}")
    if plot is not None:
        _plot(errors, plot)


def _plot(errors: dict[str, list[float]], path: str) -> None:
    try:  # optional dependency: imported by name so type checkers need not know it
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")  # files only, no display needed
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        print(f"matplotlib is not installed: no plot written to {path}")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, errs in errors.items():
        ax.loglog(SWEEP_EPS, [max(e, 1e-300) for e in errs], marker="o", label=f"{method} differences")
    ax.set_xlabel("eps")
    ax.set_ylabel("max |autograd - FD|")
    ax.set_title("Finite-difference error: truncation vs round-off")
    ax.invert_xaxis()
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise UsageError(f"{PROG} gradcheck: error: cannot write the plot to {path}: {exc}") from None
    finally:
        plt.close(fig)
    print(f"plot written to {path}")
