"""``tinygrad-nn graph``: a computation graph with values and gradients, and its backward pass."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .arguments import PROG, Subcommands, UsageError, _int_at_least

__all__ = ["add_graph", "run_graph"]

GRAPH_EXPR = "tanh(x1*w1 + x2*w2 + b)"
"""The default expression: micrograd's neuron."""

GRAPH_VARIABLES = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.881373587019543}
"""The default expression's variables; b is chosen so that the output is 1/sqrt(2)."""


def _assignment(text: str) -> tuple[str, float]:
    """A ``NAME=NUMBER`` argument as (name, value)."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name.strip().isidentifier() or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER such as a=2.5, got {text!r}")
    return name.strip(), number


def add_graph(subcommands: Subcommands) -> None:
    """Register the ``graph`` command."""
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
    """Run ``graph``: write the picture (and print the trace); 1 when Graphviz itself failed."""
    from ..graph import expression_graph, network_graph, render, to_dot, trace

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
