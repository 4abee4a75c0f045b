"""Pictures and step-by-step traces of a computation graph.

:func:`to_dot` turns the graph behind a Value into Graphviz DOT text: one box
per Value with its name, the op that produced it, its value (shape and the
first few numbers) and its gradient; constants mixed into the expression
appear as small grey labels. :func:`render` writes the DOT file and, when
Graphviz's ``dot`` program is on the PATH, an SVG or PNG beside it (run
locally with :mod:`subprocess`; nothing goes over the network).

:func:`trace` explains the backward pass: it visits the nodes in reverse
topological order (each node only after every node that uses it, so its
gradient is complete) and, for every edge into an input, shows the local
derivative ∂node/∂input, the contribution ``grad · ∂node/∂input`` sent back,
and the input's gradient accumulated so far. It runs the engine's own VJP
rules (:mod:`tinygrad_nn.ops`) on a private table and leaves every ``.grad``
alone; the totals it reaches equal what ``backward()`` stores.

>>> from tinygrad_nn import Value
>>> from tinygrad_nn.graph import trace
>>> a, b = Value(2.0), Value(-3.0)
>>> c = a * b
>>> print(trace(c, {"a": a, "b": b, "c": c}))
backward pass of c, in reverse topological order (seed ∂c/∂c = 1)
[1] c = mul(a, b) = -6    grad ∂c/∂c = 1
      -> a: local ∂c/∂a = -3; adds -3; a.grad now -3
      -> b: local ∂c/∂b = 2; adds 2; b.grad now 2
[2] b = leaf = -3    grad ∂c/∂b = 2
[3] a = leaf = 2    grad ∂c/∂a = -3
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .autograd import _conform, _rule_ieee, toposort
from .value import Value

__all__ = [
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

Names = Mapping[str, Value] | Iterable[tuple[str, Value]] | None

# Ops whose output element i depends only on input element i (when no
# broadcasting happens): their Jacobian is diagonal, so the local derivative
# of an array edge can be shown as one number per element.
_ELEMENTWISE = frozenset(
    {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
     "relu", "leaky_relu", "softplus", "astype", "where"}
)  # fmt: skip

# A Dense layer fused with its activation (ops.fuse): its δ from the output, then linear's rules.
_FUSED_DELTAS = {"linear_sigmoid": "O(1 − O)", "linear_tanh": "(1 − O²)", "linear_relu": "[O > 0]"}
_FUSED_RULES = ("δ @ Wᵀ", "xᵀ @ δ", "δ summed over the batch")

# For array edges whose Jacobian is not diagonal: what the VJP does, in words
# (g is the node's gradient, the upstream ∂E/∂out).
_VJP_TEXT: dict[str, tuple[str, ...]] = {
    "matmul": ("g @ Bᵀ", "Aᵀ @ g"),
    "linear": ("g @ Wᵀ", "xᵀ @ g (Σ over the batch of O_i δ_j)", "g summed over the batch"),
    **{name: tuple(f"{rule}, δ = g ⊙ {d}" for rule in _FUSED_RULES) for name, d in _FUSED_DELTAS.items()},
    "sum": ("g copied back over the summed axes",),
    "mean": ("g / n copied back over the averaged axes",),
    "max": ("g routed to the maxima (shared among ties)",),
    "softmax": ("s ⊙ (g − Σ g ⊙ s)",),
    "log_softmax": ("g − softmax ⊙ Σ g",),
    "reshape": ("g reshaped back",),
    "transpose": ("g transposed back",),
    "broadcast_to": ("g summed over the broadcast axes",),
    "sum_to": ("g broadcast back",),
    "getitem": ("g scattered into zeros at the index",),
    "scatter": ("g read at the index",),
    "concatenate": ("this input's slice of g",),
    "stack": ("this input's slice of g",),
}

# Ops whose operands play different roles: the DOT edges are labelled with them
# (variadic ops by position).
_ROLES: dict[str, tuple[str, ...]] = {
    "sub": ("a", "b"),
    "div": ("a", "b"),
    "pow": ("base", "exponent"),
    "matmul": ("A", "B"),
    "linear": ("x", "W", "b"),
    **dict.fromkeys(_FUSED_DELTAS, ("x", "W", "b")),
    "where": ("x", "y"),
    "squared_error": ("prediction", "target"),
}


def _edge_label(op: str, i: int) -> str | None:
    if op in ("concatenate", "stack"):
        return str(i)
    roles = _ROLES.get(op)
    return roles[i] if roles is not None and i < len(roles) else None


# ---------------------------------------------------------------------------
# Formatting numbers
# ---------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.4g}"


def summarize(x: Any, max_items: int = 4) -> str:
    """A short text for a number or array: ``-6``, ``[0.5, 1]``, ``(8, 4) [0.1, -2, 3.3, …]``."""
    if x is None:
        return "—"
    if isinstance(x, Value):
        x = x.data
    if isinstance(x, (float, int, np.floating, np.integer)):
        return _num(float(x))
    arr = np.asarray(x)
    if arr.ndim == 0:
        return _num(float(arr))
    flat = arr.reshape(-1)
    items = ", ".join(_num(float(v)) for v in flat[:max_items])
    more = ", …" if flat.size > max_items else ""
    dtype = "" if arr.dtype == np.float64 else f" {arr.dtype}"
    if arr.size <= max_items and arr.ndim == 1:
        return f"[{items}]{dtype}"
    return f"{arr.shape} [{items}{more}]{dtype}"


def _name_table(root: Value, order: list[Value], names: Names) -> dict[int, str]:
    """id(value) -> display name: the caller's names first, then v0, v1, … in graph order."""
    table: dict[int, str] = {}
    if names is not None:
        pairs = names.items() if isinstance(names, Mapping) else names
        for name, v in pairs:
            if not isinstance(v, Value):
                raise TypeError(
                    f"graph: names must map strings to Values, got {type(v).__name__} for {name!r}"
                )
            table.setdefault(id(v), str(name))
    used = set(table.values())
    k = 0
    for v in order:
        if id(v) not in table:
            while f"v{k}" in used:
                k += 1
            table[id(v)] = f"v{k}"
            used.add(f"v{k}")
    return table


def _check_root(root: Any, who: str) -> None:
    if not isinstance(root, Value):
        raise TypeError(f"{who}: expected a Value, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(
            f"{who}: this Value has no graph (it does not require grad: a constant, built only from "
            f"constants, or computed under no_grad)"
        )


# ---------------------------------------------------------------------------
# DOT
# ---------------------------------------------------------------------------


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(root: Value, names: Names = None, *, max_items: int = 4, title: str | None = None) -> str:
    """Graphviz DOT text for the graph that produced ``root``.

    ``names`` maps display names to Values (e.g. ``{"W1": layer.weight}`` or
    ``model.named_parameters()``); other Values are called ``v0``, ``v1``, …
    in topological order. Each box shows ``name [op]``, ``data`` and ``grad``
    (``—`` until a backward pass has filled it). Leaves are blue, the root is
    drawn bold, constants are grey labels.
    """
    _check_root(root, "to_dot")
    order = toposort(root)
    table = _name_table(root, order, names)
    lines = [
        "digraph G {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    if title:
        lines.append(f'  label="{_dot_escape(title)}"; labelloc=t; fontname="Helvetica";')
    ids = {id(v): f"n{i}" for i, v in enumerate(order)}
    n_const = 0
    for v in order:
        head = table[id(v)] + ("" if v.op is None else f"  [{v.op}]")
        rows = (head, f"data {summarize(v.data, max_items)}", f"grad {summarize(v.grad, max_items)}")
        label = "\\n".join(_dot_escape(r) for r in rows)
        style = ""
        if v.op is None:
            style = ', fillcolor="#dbeafe"'
        if v is root:
            style += ", penwidth=2"
        lines.append(f'  {ids[id(v)]} [label="{label}"{style}];')
    for v in order:
        if v.op is None:
            continue
        for i, (p, arg) in enumerate(zip(v._input_values(), v._raw_inputs(), strict=True)):
            role = _edge_label(v.op, i)
            role_attr = [f'label="{_dot_escape(role)}"'] if role is not None else []
            if p is not None:
                attrs = role_attr
                source = ids[id(p)]
            else:
                source = f"c{n_const}"
                n_const += 1
                text = _dot_escape(f"const {summarize(arg, max_items)}")
                lines.append(f'  {source} [label="{text}", shape=plaintext, style="", fontcolor="#777777"];')
                attrs = ["style=dashed", 'color="#999999"', *role_attr]
            lines.append(f"  {source} -> {ids[id(v)]}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


class Rendered(NamedTuple):
    """What :func:`render` wrote: the DOT file, and the picture (None without Graphviz)."""

    dot: Path
    image: Path | None


def find_dot() -> str | None:
    """Path of Graphviz's ``dot`` program, or None when it is not on the PATH."""
    return shutil.which("dot")


def render(
    root: Value,
    path: str | os.PathLike[str],
    names: Names = None,
    *,
    format: str | None = None,
    max_items: int = 4,
    title: str | None = None,
) -> Rendered:
    """Write the graph of ``root`` as DOT, and as SVG/PNG when Graphviz's ``dot`` is installed.

    ``path`` names the picture (``graph.svg``); the DOT source always goes
    beside it with the suffix ``.dot``. ``format`` ("svg", "png" or "dot")
    defaults to the suffix of ``path`` (``.dot`` writes DOT only). Returns the
    paths written; ``image`` is None when only DOT could be written.
    """
    target = Path(path)
    fmt = (format or target.suffix.lstrip(".") or "svg").lower()
    if fmt not in ("svg", "png", "dot"):
        raise ValueError(f"render: format must be 'svg', 'png' or 'dot', got {fmt!r}")
    dot_path = target.with_suffix(".dot")
    dot_path.write_text(to_dot(root, names, max_items=max_items, title=title), encoding="utf-8")
    if fmt == "dot":
        return Rendered(dot_path, None)
    exe = find_dot()
    if exe is None:
        return Rendered(dot_path, None)
    image = target.with_suffix("." + fmt)
    done = subprocess.run(
        [exe, f"-T{fmt}", str(dot_path), "-o", str(image)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"render: Graphviz dot failed ({done.returncode}): {done.stderr.strip()}")
    return Rendered(dot_path, image)


# ---------------------------------------------------------------------------
# Trace of the backward pass
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceEdge:
    """One edge of the backward pass: gradient sent from a node to one of its inputs.

    ``local`` is the local derivative ∂node/∂input: for a single-element
    node, its whole Jacobian row (a number, or an array of the input's shape);
    for an elementwise op on arrays, the diagonal of the Jacobian; None
    otherwise, and then ``local_text`` says in words what the VJP computes.
    ``contribution`` = grad · ∂node/∂input, summed to the input's shape;
    ``accumulated`` is the input's gradient after adding it.
    """

    input: str
    local: Any
    local_text: str
    contribution: Any
    accumulated: Any


@dataclass(frozen=True)
class TraceStep:
    """One node of the backward pass, visited once its gradient is complete."""

    index: int
    name: str
    op: str | None
    data: Any
    grad: Any
    inputs: tuple[str, ...]
    edges: tuple[TraceEdge, ...]


def _call_rule(rule: Callable[..., Any], g: Any, out: Any, args: tuple[Any, ...], params: Any) -> Any:
    """Run a VJP rule as the engine does: Python floats that hit 1/0 or overflow are redone in IEEE."""
    try:
        return rule(g, out, *args, **params) if params else rule(g, out, *args)
    except (ZeroDivisionError, OverflowError):
        return _rule_ieee(rule, g, out, args, params)


def _local(node: Value, i: int, rule: Callable[..., Any], p: Value) -> tuple[Any, str]:
    """The local derivative ∂node/∂input_i (its value where it is compact, else None) and its text."""
    args, params, out = node._raw_inputs(), node._op_params(), node.data
    op = node.op or ""
    if node.size == 1:
        # A single-element node's Jacobian is one row: its VJP with g = 1.
        seed = 1.0 if type(out) is float else np.ones_like(out)
        row = _conform(_call_rule(rule, seed, out, args, params), p.data)
        return row, summarize(row)
    if op in _ELEMENTWISE and p.shape == node.shape:
        raw = np.asarray(_call_rule(rule, np.ones_like(np.asarray(out)), out, args, params))
        diagonal = np.broadcast_to(raw, node.shape).astype(np.float64)
        return diagonal, "elementwise " + summarize(diagonal)
    texts = _VJP_TEXT.get(op)
    if texts is not None:
        text = texts[min(i, len(texts) - 1)]
    elif op in _ELEMENTWISE:
        text = "elementwise, then summed over the broadcast axes"
    else:
        text = "vector-Jacobian product"
    return None, text


def backward_steps(root: Value, names: Names = None) -> list[TraceStep]:
    """The backward pass from ``root``, one :class:`TraceStep` per node that requires grad.

    Nothing's ``.grad`` changes: the gradients are propagated in a private
    table with the engine's VJP rules, seeded with ∂root/∂root = 1 (``root``
    must have a single element).
    """
    _check_root(root, "trace")
    if root.size != 1:
        raise ValueError(
            f"trace: the root must have a single element (reduce it first), got shape {root.shape}"
        )
    order = toposort(root)
    table = _name_table(root, order, names)
    seed: Any = 1.0 if type(root.data) is float else np.ones_like(root.data)
    pending: dict[int, Any] = {id(root): seed}
    steps: list[TraceStep] = []
    for node in reversed(order):
        g = pending.get(id(node))
        if g is None:  # pragma: no cover - every node of the toposort is reached from root
            continue
        edges: list[TraceEdge] = []
        inputs: list[str] = []
        if node._op is not None:
            raws = node._raw_inputs()
            for i, (p, arg) in enumerate(zip(node._input_values(), raws, strict=True)):
                inputs.append(table[id(p)] if p is not None else f"const {summarize(arg)}")
                if p is None:
                    continue
                rule = node._op.vjps[i]
                contribution = _conform(_call_rule(rule, g, node.data, raws, node._op_params()), p.data)
                local, text = _local(node, i, rule, p)
                prev = pending.get(id(p))
                total = contribution if prev is None else prev + contribution
                pending[id(p)] = total
                edges.append(TraceEdge(table[id(p)], local, text, contribution, total))
        steps.append(
            TraceStep(len(steps) + 1, table[id(node)], node.op, node.data, g, tuple(inputs), tuple(edges))
        )
    return steps


def trace(root: Value, names: Names = None, *, max_items: int = 4) -> str:
    """The backward pass from ``root`` as text, step by step (see :func:`backward_steps`).

    For each node, in reverse topological order: its name, op, inputs, value
    and (complete) gradient, then for each input that requires grad the local
    derivative ∂node/∂input, the contribution grad · local sent back, and the
    input's gradient accumulated so far.
    """
    steps = backward_steps(root, names)
    top = steps[0].name
    lines = [f"backward pass of {top}, in reverse topological order (seed ∂{top}/∂{top} = 1)"]
    for s in steps:
        what = "leaf" if s.op is None else f"{s.op}({', '.join(s.inputs)})"
        lines.append(
            f"[{s.index}] {s.name} = {what} = {summarize(s.data, max_items)}"
            f"    grad ∂{top}/∂{s.name} = {summarize(s.grad, max_items)}"
        )
        for e in s.edges:
            sep = " = " if e.local is not None else ": "
            lines.append(
                f"      -> {e.input}: local ∂{s.name}/∂{e.input}{sep}{e.local_text}"
                f"; adds {summarize(e.contribution, max_items)}"
                f"; {e.input}.grad now {summarize(e.accumulated, max_items)}"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Small graphs to look at (used by ``tinygrad-nn graph``)
# ---------------------------------------------------------------------------

_FUNCTIONS: dict[str, Callable[[Value], Value]] = {
    "exp": Value.exp,
    "log": Value.log,
    "sqrt": Value.sqrt,
    "abs": Value.abs,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "relu": Value.relu,
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


# Python float arithmetic raises these, numpy's errstate(all="raise") raises
# FloatingPointError, and the filter below turns numpy's and the engine's
# RuntimeWarnings (e.g. log of a negative number) into exceptions.
_NOT_FINITE = (ZeroDivisionError, OverflowError, FloatingPointError, RuntimeWarning)


@contextlib.contextmanager
def _strict() -> Iterator[None]:
    """Every inf/nan-producing operation inside raises instead of warning."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "overflow"
    return str(exc) or type(exc).__name__


def _finite(x: Any) -> bool:
    return bool(np.all(np.isfinite(x.data if isinstance(x, Value) else x)))


def expression_graph(
    expr: str, variables: Mapping[str, float], *, backward: bool = False
) -> tuple[Value, dict[str, Value]]:
    """Evaluate a small arithmetic expression on scalar Values; returns ``(result, names)``.

    The expression may use the given variables, numbers, ``+ - * / **``,
    unary minus and the functions (or methods) exp, log, sqrt, abs, tanh,
    sigmoid, relu: ``"tanh(a*b + c)"`` or ``"(a*b + c).tanh()"``. Nothing
    else is evaluated (no attribute access, no other calls). ``names`` maps
    each variable name to its leaf Value, and ``"f"`` to the result (``"out"``
    if a variable is called f), for :func:`to_dot` and :func:`trace`.
    ``backward=True`` also runs ``result.backward()``.

    Raises ValueError for anything else, for an expression nested too deeply,
    and when a value (or, with ``backward``, a gradient) is not finite, e.g.
    ``log(x) at x=-1 is not finite (invalid value encountered in log)``.
    """
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression: cannot parse {expr!r} ({exc.msg})") from None
    except (RecursionError, MemoryError):  # the parser's own nesting limit
        raise ValueError(f"expression: too long or too deeply nested ({len(expr)} characters)") from None
    leaves: dict[str, Value] = {}
    for name, number in variables.items():
        if not name.isidentifier():
            raise ValueError(f"expression: variable name {name!r} is not an identifier")
        if not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"expression: variable {name} must be a finite number, got {number!r}")
        leaves[name] = Value(float(number))

    def where(node: ast.AST) -> str:
        used = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in leaves})
        at = ", ".join(f"{n}={_num(float(leaves[n].data))}" for n in used)
        return ast.unparse(node) + (f" at {at}" if at else "")

    def apply(node: ast.AST, op: Callable[..., Any], *operands: Any) -> Any:
        """``op(*operands)`` for the AST ``node``; a non-finite result is an error naming it."""
        try:
            out = op(*operands)
        except _NOT_FINITE as exc:
            raise ValueError(f"expression: {where(node)} is not finite ({_reason(exc)})") from None
        if isinstance(out, complex):  # Python's float power: (-8) ** (1/3)
            raise ValueError(f"expression: {where(node)} is not a real number")
        if not _finite(out):  # Python float * and + overflow to inf silently
            raise ValueError(f"expression: {where(node)} is not finite (overflow)")
        return out

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            if isinstance(node.value, bool):
                raise ValueError(f"expression: unsupported constant {node.value!r}")
            return apply(node, float, node.value)  # a huge integer literal overflows
        if isinstance(node, ast.Name):
            if node.id not in leaves:
                known = ", ".join(sorted(leaves)) or "none given"
                raise ValueError(f"expression: unknown variable {node.id!r} (variables: {known})")
            return leaves[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return apply(node, _BINARY[type(node.op)], ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = ev(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Call) and not node.keywords:
            func, args = node.func, list(node.args)
            if isinstance(func, ast.Name) and func.id in _FUNCTIONS and len(args) == 1:
                name, arg = func.id, args[0]
            elif isinstance(func, ast.Attribute) and func.attr in _FUNCTIONS and not args:
                name, arg = func.attr, func.value
            else:
                raise ValueError(
                    f"expression: unsupported call {ast.unparse(node)!r}; use one of "
                    f"{', '.join(sorted(_FUNCTIONS))} with one argument"
                )
            inner = ev(arg)
            operand = inner if isinstance(inner, Value) else Value(inner, requires_grad=False)
            return apply(node, _FUNCTIONS[name], operand)
        raise ValueError(f"expression: unsupported syntax {ast.unparse(node)!r}")

    with _strict():
        try:
            result = ev(tree.body)
        except (RecursionError, MemoryError):  # ev recurses once per level of nesting
            raise ValueError(f"expression: too long or too deeply nested ({len(expr)} characters)") from None
        if not isinstance(result, Value) or not result.requires_grad:
            raise ValueError(f"expression: {expr!r} does not depend on any variable")
        if backward:
            try:
                result.backward()
            except _NOT_FINITE as exc:
                raise ValueError(
                    f"expression: the gradient of {where(tree.body)} is not finite ({_reason(exc)})"
                ) from None
            bad = [n for n, v in leaves.items() if v.grad is not None and not _finite(v.grad)]
            if bad:  # pragma: no cover - the strict mode above raises first
                raise ValueError(f"expression: the gradient of {where(tree.body)} is not finite")
    top = next(n for n in ("f", "out", "result", "f_") if n not in leaves)
    return result, {**leaves, top: result}


def network_graph(seed: int = 0) -> tuple[Value, dict[str, Value]]:
    """A 2 -> 2 sigmoid -> 1 sigmoid network on one sample with E = ½(O − t)², after ``backward()``.

    Returns ``(E, names)`` with the weights, biases, pre-activations z1, z2
    and outputs O1, O2 named, so the picture shows δ = ``z.grad`` on each
    pre-activation.
    """
    from . import nn

    gen = np.random.default_rng(seed)
    hidden = nn.Dense(2, 2, rng=gen)
    output = nn.Dense(2, 1, rng=gen)
    x = np.array([[0.5, -1.0]])
    t = np.array([[1.0]])
    z1 = hidden(x)
    o1 = z1.sigmoid()
    z2 = output(o1)
    o2 = z2.sigmoid()
    err = 0.5 * ((o2 - t) ** 2).sum()
    err.backward()
    names = {
        "W1": hidden.weight, "b1": hidden.bias, "W2": output.weight, "b2": output.bias,
        "z1": z1, "O1": o1, "z2": z2, "O2": o2, "E": err,
    }  # fmt: skip
    return err, {k: v for k, v in names.items() if isinstance(v, Value)}
