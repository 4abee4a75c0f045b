"""Graphviz pictures of a graph: DOT text, and SVG or PNG when Graphviz is installed.

:func:`to_dot` writes one box per Value with its name, the op that produced
it, its value and its gradient; constants mixed into the expression appear as
small grey labels. :func:`render` writes that text to a file and, when
Graphviz's ``dot`` program is on the PATH, runs it locally with
:mod:`subprocess` for the picture (nothing goes over the network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from .. import autograd
from ..autograd import toposort
from ..value import Value
from .names import Names, _check_root, _edge_label, _name_table, summarize

__all__ = ["Rendered", "find_dot", "render", "to_dot"]


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
    table = _name_table(order, names)
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
        for i, (p, arg) in enumerate(zip(autograd.inputs(v), autograd.saved(v), strict=True)):
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
