"""The switch between the fast path (the default) and the reference path.

:func:`install` puts the fast versions in place: Value's operators and
elementwise methods (``_fast/apply.py``), the kernels of a few ops
(``_fast/kernels.py``), ``Dense.forward`` and ``Sequential.forward``
(``_fast/layers.py``); ``backward`` and ``autograd.grad`` ask
:func:`fast_enabled` which walk to run. :func:`uninstall` puts the reference
code back. The switch is process-wide, like the environment variable
``TINYGRAD_NN_REFERENCE=1`` that keeps the fast path out from the start.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

_state: dict[str, Any] = {"depth": 0, "restore": False}
_lock = threading.RLock()
# (owner, attribute name, reference version, fast version) for each swap.
_swaps: list[tuple[Any, str, Any, Any]] = []


# The fast walk's module while the fast path is installed, else None: read by
# autograd.backward and autograd.grad, and the one record of which path is on.
FAST_WALK: ModuleType | None = None


def fast_enabled() -> bool:
    """True while the fast path is installed (the default)."""
    return FAST_WALK is not None


def _build_swaps() -> None:
    from .. import ops
    from ..nn.containers import Sequential
    from ..nn.layers import Dense
    from ..value import Value
    from . import kernels, layers
    from .apply import binary_operator, unary_method

    binary = {"add": ops.ADD, "sub": ops.SUB, "mul": ops.MUL, "truediv": ops.DIV, "pow": ops.POW,
              "matmul": ops.MATMUL}  # fmt: skip
    for stem, op in binary.items():
        for reflected, name in ((False, f"__{stem}__"), (True, f"__r{stem}__")):
            _swap(Value, name, binary_operator(op, reflected))
    unary = {"__neg__": ops.NEG, "__abs__": ops.ABS, "exp": ops.EXP, "log": ops.LOG, "sqrt": ops.SQRT,
             "abs": ops.ABS, "tanh": ops.TANH, "sigmoid": ops.SIGMOID, "relu": ops.RELU}  # fmt: skip
    for name, op in unary.items():
        _swap(Value, name, unary_method(op))
    for op, rules in kernels.RULES.items():
        _swaps.append((op, "kernels", op.vjps, rules))
    for op, forward in kernels.FORWARDS.items():
        _swaps.append((op, "forward", op.forward, forward))
    _swap(Dense, "forward", layers.dense_forward)
    _swap(Sequential, "forward", layers.sequential_forward)


def _swap(cls: type, name: str, fast: Any) -> None:
    reference = cls.__dict__[name]
    fast.__name__, fast.__qualname__ = name, f"{cls.__name__}.{name}"
    fast.__doc__ = reference.__doc__
    _swaps.append((cls, name, reference, fast))


def install() -> None:
    """Put the fast path in place (what importing tinygrad_nn does, unless
    ``TINYGRAD_NN_REFERENCE=1``)."""
    with _lock:
        if not _swaps:
            _build_swaps()
        for owner, name, _, fast in _swaps:
            setattr(owner, name, fast)
        from . import walk

        global FAST_WALK
        FAST_WALK = walk


def uninstall() -> None:
    """Put the reference code back everywhere."""
    with _lock:
        for owner, name, reference, _ in _swaps:
            setattr(owner, name, reference)
        global FAST_WALK
        FAST_WALK = None


class reference_mode(contextlib.ContextDecorator):
    """Run the reference path only: every Value op, every nn layer and the
    backward walk, as written in ``value.py``, ``ops.py``, ``autograd.py`` and ``nn/``.

    A context manager (``with tinygrad_nn.reference_mode(): ...``) and a
    decorator (``@tinygrad_nn.reference_mode()``); blocks may nest. The
    numbers are the same, bit for bit; only the speed differs. The switch is
    process-wide (all threads); ``TINYGRAD_NN_REFERENCE=1`` in the
    environment sets it for the whole process.
    """

    def __enter__(self) -> reference_mode:
        with _lock:
            _state["depth"] += 1
            if _state["depth"] == 1:
                _state["restore"] = fast_enabled()
                uninstall()
        return self

    def __exit__(self, *exc: object) -> None:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["restore"]:
                install()


@contextlib.contextmanager
def fast_mode() -> Iterator[None]:
    """The fast path installed inside the block, even in a process started with
    ``TINYGRAD_NN_REFERENCE=1`` (for tests of the fast path itself)."""
    if fast_enabled():
        yield
        return
    install()
    try:
        yield
    finally:
        uninstall()


def reference_from_environment() -> bool:
    """True when ``TINYGRAD_NN_REFERENCE`` asks for the reference path (1, true, yes, on)."""
    return os.environ.get("TINYGRAD_NN_REFERENCE", "").strip().lower() in ("1", "true", "yes", "on")
