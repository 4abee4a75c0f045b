"""Pictures and step-by-step traces of a computation graph.

:func:`to_dot` turns the graph behind a Value into Graphviz DOT text: one box
per Value with its name, the op that produced it, its value (shape and the
first few numbers) and its gradient. :func:`render` writes the DOT file and,
when Graphviz's ``dot`` program is on the PATH, an SVG or PNG beside it.
:func:`trace` explains the backward pass edge by edge without touching any
``.grad``.

The package, one job per module: :mod:`~tinygrad_nn.graph.names` names the
nodes and summarizes their values (shared by the pictures and the trace),
:mod:`~tinygrad_nn.graph.dot` writes DOT and runs Graphviz,
:mod:`~tinygrad_nn.graph.tracing` walks the backward pass, and
:mod:`~tinygrad_nn.graph.demos` builds the small graphs that
``tinygrad-nn graph`` draws. Every public name is importable from here.
"""

from .demos import expression_graph, network_graph
from .dot import Rendered, find_dot, render, to_dot
from .names import Names, summarize
from .tracing import TraceEdge, TraceStep, backward_steps, trace

__all__ = [
    "Names",
    "Rendered",
    "TraceEdge",
    "TraceStep",
    "backward_steps",
    "expression_graph",
    "find_dot",
    "network_graph",
    "render",
    "summarize",
    "to_dot",
    "trace",
]
