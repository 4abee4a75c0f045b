"""Anomaly mode: stop at the first op that turns finite numbers into nan or inf.

A nan in a loss says that something went wrong, not where. Inside
``detect_anomaly()`` every op's result is checked as it is made: the first
op whose inputs are all finite but whose output is not raises
``FloatingPointError`` naming the op, the shapes and the line of the
user's code that ran it. Each node made in the block remembers that line, so
the backward pass can say the same when a rule turns a finite gradient into
nan or inf (``sqrt`` at 0, ``log`` at 0, ...).

Inside the block numpy's floating-point warnings give way to these checks
(a nan made from a nan is not reported, and not warned about either).
The checks need every op to go through the reference code (``value.apply``
and the reference walk), so the block runs in ``reference_mode()``: the same
numbers, more slowly. Outside it nothing is checked and nothing is paid: the
fast path has no check at all, the reference path reads one counter per op.
Like ``reference_mode()``, the mode is process-wide.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._fast.switch import reference_mode
from .ops import Op

__all__ = ["Site", "detect_anomaly", "is_anomaly_enabled"]

_depth = 0  # how many detect_anomaly() blocks are open (value.apply and autograd.vjp read it)
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every op's result, forward and backward, for a new nan or inf.

    A context manager (also usable as a decorator)::

        with tinygrad_nn.detect_anomaly():
            loss = model(x).log().sum()   # FloatingPointError at the first log of 0
            loss.backward()               # ... or at the first rule giving nan or inf

    The error names the op, whether it happened in the forward or the
    backward pass, the shapes, and the file and line of your code that made
    the node. Runs on the reference path while on (see the module docstring).
    """
    global _depth
    with reference_mode():
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return _depth > 0


class Site(NamedTuple):
    """Where in the user's code a node was made."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"


def user_site() -> Site | None:
    """The innermost frame of the caller's stack outside tinygrad_nn (and contextlib)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_PACKAGE) and not name.endswith("contextlib.py"):
            return Site(name, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back  # type: ignore[assignment]
    return None


class Watched(Op):
    """A node's op under anomaly mode: the same op, plus the line that made the node."""

    __slots__ = ("site",)

    def __init__(self, op: Op, site: Site | None) -> None:
        super().__init__(
            op.name, op.forward, op.vjps if op.split is None else (), op.describe_error, op.split
        )
        self.kernels = op.kernels
        self.site = site


def quiet() -> Any:
    """numpy's floating-point warnings off, for an op whose result the checks look at."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")


def _finite(x: Any) -> bool:
    if hasattr(x, "_data"):  # a Value (a differentiable gradient)
        x = x._data
    if type(x) is float:
        return math.isfinite(x)
    x = np.asarray(x)
    return x.dtype.kind not in "fc" or bool(np.isfinite(x).all())


def _shapes(xs: Sequence[Any]) -> str:
    return ", ".join(str(np.shape(getattr(x, "_data", x))) for x in xs)


def _bad(x: Any) -> str:
    """Which non-finite values ``x`` holds: 'nan', 'inf', '-inf' or several."""
    a = np.asarray(getattr(x, "_data", x), dtype=np.float64)
    kinds = [k for k, hit in (("nan", np.isnan(a).any()), ("inf", np.isposinf(a).any()),
                              ("-inf", np.isneginf(a).any())) if hit]  # fmt: skip
    return " and ".join(kinds)


def watch_forward(op: Op, raws: Sequence[Any], out: Any) -> Watched:
    """Raise if ``op`` turned finite ``raws`` into a non-finite ``out``; else the op
    to record, carrying the user's line."""
    site = user_site()
    if not _finite(out) and all(_finite(r) for r in raws):
        raise FloatingPointError(
            f"detect_anomaly: the forward pass of op {op.name!r} produced {_bad(out)} "
            f"(output shape {np.shape(out)}) from finite inputs of shapes ({_shapes(raws)}), "
            f"at {site or 'an unknown line'}"
        )
    return Watched(op, site)


def watch_backward(node: Any, g: Any, i: int, contribution: Any) -> None:
    """Raise if the rule for input ``i`` of ``node`` turned a finite gradient ``g``
    into a non-finite contribution."""
    if _finite(contribution) or not _finite(g):
        return
    op = node._op
    site = getattr(op, "site", None)
    made = f"made at {site}" if site is not None else "made outside detect_anomaly()"
    raise FloatingPointError(
        f"detect_anomaly: the backward pass of op {op.name!r} produced {_bad(contribution)} in the "
        f"gradient for its input {i} (shape {np.shape(getattr(contribution, '_data', contribution))}) "
        f"from a finite gradient of shape {np.shape(getattr(g, '_data', g))}; the node was {made}"
    )
