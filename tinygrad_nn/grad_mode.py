"""Whether operations are recorded for differentiation.

Recording is on by default. ``no_grad()`` turns it off inside a ``with`` block
(or a decorated function): results computed there have no graph and
``requires_grad=False``, which is what evaluation loops and optimizer updates
want. The switch is a single module-level flag, so it is not thread-local.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_enabled = True


def is_grad_enabled() -> bool:
    """Return True when new operations are being recorded."""
    return _enabled


@contextlib.contextmanager
def set_grad_enabled(mode: bool) -> Iterator[None]:
    """Record operations inside the block when ``mode`` is true, not otherwise."""
    global _enabled
    previous = _enabled
    _enabled = bool(mode)
    try:
        yield
    finally:
        _enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager (and decorator) inside which nothing is recorded.

    >>> from tinygrad_nn import Value, no_grad
    >>> w = Value(3.0)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager that turns recording back on inside a ``no_grad`` block."""
    return set_grad_enabled(True)
