"""The command line: ``python -m tinygrad_nn COMMAND [options]``.

Each command is one ``add_<command>(subcommands)`` function that registers
its parser and sets ``run=`` to a handler ``(args) -> exit code``; adding a
command means writing that function and listing it in :data:`COMMANDS`.

Exit codes: 0 success, 1 the experiment failed (e.g. a gradient check),
2 bad arguments (reported in one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]
# The name errors and --help use: how the user ran us.
PROG = "tinygrad-nn" if os.path.basename(sys.argv[0]).startswith("tinygrad-nn") else "python -m tinygrad_nn"

Subcommands = Any  # argparse's _SubParsersAction, which is private


class UsageError(Exception):
    """Bad command-line arguments: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


# -- argument types: each raises ArgumentTypeError with a message naming the value ------------------


def layer_sizes(text: str) -> list[int]:
    """``"4,10,3"`` -> [4, 10, 3]: at least two positive ints (input size, ..., output size)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}: expected comma-separated positive integers such as 4,10,3"
        )
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}: need at least an input and an output size, such as 4,3"
        )
    return [int(p) for p in parts]


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


# -- gradcheck -------------------------------------------------------------------------------------

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
SWEEP_EPS = [10.0**-k for k in range(1, 13)]
DELTA_RTOL = 1e-10  # autograd and the closed form do the same sums: they agree to round-off


def add_gradcheck(subcommands: Subcommands) -> None:
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
    from . import nn

    modules: dict[str, type] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    layers: list[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Dense(sizes[i], sizes[i + 1], rng=rng))
        act = output if i == len(sizes) - 2 else hidden
        if act != "identity":
            layers.append(modules[act]())
    return nn.Sequential(*layers)


def _rel(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    """max |a − b| / max(|a|, |b|, floor), the relative error gradcheck reports."""
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    diff = np.abs(a - b)
    return float(np.max(np.where(denom > 0, diff / np.where(denom > 0, denom, 1.0), 0.0), initial=0.0))


def run_gradcheck(args: argparse.Namespace) -> int:
    from . import backprop, nn
    from .gradcheck import format_table, gradcheck_module

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
    from .gradcheck import format_table, gradcheck_module

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


# -- train ---------------------------------------------------------------------------------------------


def _hidden_sizes(text: str) -> tuple[int, ...]:
    from .train import TrainConfigError, parse_hidden

    try:
        return parse_hidden(text)
    except TrainConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--hidden: ")) from None


def add_train(subcommands: Subcommands) -> None:
    from . import train

    p = subcommands.add_parser(
        "train",
        help="train a network on a bundled or generated data set",
        description=(
            "Train a Dense network on a data set (split 80/20, features standardized), report progress "
            "and the final train/test accuracy (RMSE and R^2 for regression), and write a checkpoint, "
            "per-epoch metrics (CSV and JSON) and, with matplotlib, a loss-curve PNG to --out."
        ),
    )
    p.add_argument("--dataset", choices=train.data.DATASET_NAMES, default="iris",
                   help="data set (default: iris)")  # fmt: skip
    p.add_argument("--hidden", type=_hidden_sizes, default=(10,), metavar="N,N,...",
                   help="hidden layer widths, or 'none' (default: 10)")  # fmt: skip
    p.add_argument("--activation", choices=train.ACTIVATIONS, default="tanh",
                   help="activation of the hidden layers (default: tanh)")  # fmt: skip
    p.add_argument("--loss", choices=train.LOSSES, default=None,
                   help="loss (default: cross-entropy for classification, mse for regression)")  # fmt: skip
    p.add_argument("--optimizer", choices=train.OPTIMIZERS, default="adam", help="optimizer (default: adam)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: adam 0.01, sgd 0.2, sgd with sse 0.02)")  # fmt: skip
    p.add_argument("--epochs", type=_int_at_least(1), default=None,
                   help="passes over the training data (default: depends on the data set)")  # fmt: skip
    p.add_argument("--batch-size", type=_int_at_least(1), default=16, help="mini-batch size (default: 16)")
    p.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="seed for data, split, weights and batch order (default: 0)")  # fmt: skip
    p.add_argument("--out", metavar="DIR", default=None,
                   help="directory for the checkpoint and metrics (default: runs/<dataset>)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, TrainConfigError, train

    config = TrainConfig(
        dataset=args.dataset, hidden=args.hidden, activation=args.activation, loss=args.loss,
        optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
        seed=args.seed, out=args.out,
    )  # fmt: skip
    try:
        train(config, quiet=args.quiet)
    except TrainConfigError as exc:
        raise UsageError(f"{PROG} train: error: {exc}") from None
    except (FloatingPointError, OSError) as exc:  # diverged, or the results could not be written
        print(f"{PROG} train: error: {exc}", file=sys.stderr)
        return 1
    return 0


# -- graph ---------------------------------------------------------------------------------------------

# micrograd's neuron: tanh(x1 w1 + x2 w2 + b), with b chosen so the output is 1/sqrt(2).
GRAPH_EXPR = "tanh(x1*w1 + x2*w2 + b)"
GRAPH_VARIABLES = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.881373587019543}


def _assignment(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name.strip().isidentifier() or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER such as a=2.5, got {text!r}")
    return name.strip(), number


def add_graph(subcommands: Subcommands) -> None:
    p = subcommands.add_parser(
        "graph",
        help="draw a computation graph with values and gradients; --trace prints the backward pass",
        description=(
            "Build a small expression (or, with --network, a 2-2-1 sigmoid network), run backward(), "
            "and write its graph as DOT with each node's op, value and gradient; SVG or PNG too when "
            "Graphviz's dot is on the PATH. --trace prints the backward pass step by step in reverse "
            "topological order: node, op, local derivative, accumulated gradient."
        ),
    )
    p.add_argument("variables", nargs="*", type=_assignment, metavar="NAME=NUMBER",
                   help=f"values of the expression's variables (default: {GRAPH_EXPR} with "
                        + " ".join(f"{k}={v:g}" for k, v in GRAPH_VARIABLES.items()) + ")")  # fmt: skip
    p.add_argument("--expr", default=None,
                   help="expression: + - * / ** and exp log sqrt abs tanh sigmoid relu")  # fmt: skip
    p.add_argument("--network", action="store_true",
                   help="draw a 2-2-1 sigmoid network with E = 1/2 (O - t)^2 instead")  # fmt: skip
    p.add_argument("--seed", type=_int_at_least(0), default=0, help="--network weights seed (default: 0)")
    p.add_argument("--out", default="graph.svg", metavar="PATH",
                   help="picture to write (.svg, .png or .dot; the DOT source goes beside it), "
                        "or - for DOT on stdout (default: graph.svg)")  # fmt: skip
    p.add_argument("--trace", action="store_true", help="print the backward pass step by step")
    p.set_defaults(run=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .graph import expression_graph, network_graph, render, to_dot, trace

    prog = f"{PROG} graph"
    if args.network:
        if args.expr is not None or args.variables:
            raise UsageError(f"{prog}: error: --network takes no --expr and no NAME=NUMBER values")
        root, names = network_graph(args.seed)
    else:
        given = dict(args.variables)
        variables = given if args.expr is not None else {**GRAPH_VARIABLES, **given}
        try:
            root, names = expression_graph(args.expr or GRAPH_EXPR, variables, backward=True)
        except ValueError as exc:
            raise UsageError(f"{prog}: error: {exc}") from None
    if args.trace:
        print(trace(root, names))
    if args.out == "-":
        print(to_dot(root, names), end="")
        return 0
    path = Path(args.out)
    if path.suffix.lower() not in (".svg", ".png", ".dot"):
        raise UsageError(f"{prog}: error: --out must end in .svg, .png or .dot, got {args.out!r}")
    try:
        written = render(root, path, names)
    except OSError as exc:
        raise UsageError(f"{prog}: error: cannot write {args.out!r} ({exc.strerror or exc})") from None
    except RuntimeError as exc:  # Graphviz itself failed
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    if written.image is not None:
        print(f"wrote {written.dot} and {written.image}")
    elif path.suffix.lower() == ".dot":
        print(f"wrote {written.dot}")
    else:
        print(f"wrote {written.dot} (Graphviz's dot is not on the PATH: install Graphviz for SVG or PNG)")
    return 0


# -- entry point ---------------------------------------------------------------------------------------

COMMANDS: list[Callable[[Subcommands], None]] = [add_gradcheck, add_train, add_graph]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="tinygrad_nn experiments from the command line.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the exit code (0 ok, 1 failed, 2 bad arguments)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.run(args))
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else 0
