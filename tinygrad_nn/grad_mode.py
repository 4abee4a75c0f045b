"""Whether operations are recorded for differentiation, per thread.

Recording is on by default. ``no_grad()`` turns it off inside a ``with`` block
or a decorated function (generator functions included): results computed
there have no graph and ``requires_grad=False``, which is what evaluation
loops and optimizer updates want. ``enable_grad()`` turns it back on, and
``set_grad_enabled(mode)`` sets it, either for a ``with`` block or, called on
its own, from then on.

The mode belongs to the thread that sets it, as in PyTorch: an evaluation
thread inside ``no_grad()`` leaves a training thread recording. A new thread
starts with recording on.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Mode(threading.local):
    def __init__(self) -> None:  # runs in each thread, at its first use
        self.enabled = True  # what every thread starts with


_mode = _Mode()

# How many threads have recording off right now. While none has, the fast path
# (_fast/apply.py) records without reading the thread-local flag, a lookup that
# cost about 5% of a scalar-MLP step.
_threads_off = 0
_count_lock = threading.Lock()


def is_grad_enabled() -> bool:
    """Return True when new operations are being recorded (in this thread)."""
    return _mode.enabled


def _set(mode: bool) -> None:
    global _threads_off
    if _mode.enabled != mode:
        with _count_lock:
            _threads_off += -1 if mode else 1
        _mode.enabled = mode


class _GradModeBlock:
    """A context manager, and a decorator, that records with ``mode`` inside."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous: list[bool] = []  # a stack: the same object may be entered again

    def __enter__(self) -> None:
        self._previous.append(_mode.enabled)
        _set(self.mode)

    def __exit__(self, *exc: object) -> None:
        _set(self._previous.pop())

    def __call__(self, fn: F) -> F:
        mode = self.mode
        if inspect.isgeneratorfunction(fn):
            # The mode holds while the generator runs, not while its caller does:
            # each resumption runs inside a block of its own.
            @functools.wraps(fn)
            def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                with _GradModeBlock(mode):
                    gen = fn(*args, **kwargs)
                sent: Any = None
                thrown: BaseException | None = None
                while True:
                    with _GradModeBlock(mode):
                        try:
                            value = gen.send(sent) if thrown is None else gen.throw(thrown)
                        except StopIteration as stop:
                            return stop.value
                    sent, thrown = None, None
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with _GradModeBlock(mode):
                            gen.close()
                        raise
                    except BaseException as exc:  # passed on into the generator
                        thrown = exc

            return generator  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradModeBlock(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def no_grad() -> _GradModeBlock:
    """Context manager (and decorator) inside which nothing is recorded.

    >>> from tinygrad_nn import Value, no_grad
    >>> w = Value(3.0)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _GradModeBlock(False)


def enable_grad() -> _GradModeBlock:
    """Context manager (and decorator) that turns recording back on inside a ``no_grad`` block."""
    return _GradModeBlock(True)


class set_grad_enabled(_GradModeBlock):  # a class used like a function, as in PyTorch
    """Set recording on or off in this thread.

    Called on its own (``set_grad_enabled(False)``) it sets the mode from then
    on; in a ``with`` block it sets it for the block and restores the previous
    mode at the end; as a decorator it sets it while the function runs.
    """

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self._before_call = _mode.enabled
        _set(self.mode)  # takes effect at once, even without a with block

    def __enter__(self) -> None:
        self._previous.append(self._before_call)

    def __call__(self, fn: F) -> F:
        _set(self._before_call)  # as a decorator, only the function's calls change
        return super().__call__(fn)
