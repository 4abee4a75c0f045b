"""Grad mode: per thread, settable by a plain call, and right around generator functions."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from tinygrad_nn import Value, enable_grad, is_grad_enabled, no_grad, set_grad_enabled


@pytest.fixture
def fast_switching():
    """Threads switch often, so that a shared flag would be seen from the other thread."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_no_grad_in_one_thread_leaves_another_thread_recording(fast_switching):
    w = Value(np.ones(3))
    stop = threading.Event()

    def evaluate() -> None:
        while not stop.is_set():
            with no_grad():
                (w * 2.0).sum()

    evaluator = threading.Thread(target=evaluate)
    evaluator.start()
    try:
        lost = 0
        for _ in range(3000):
            if not (w * 3.0).sum().requires_grad:
                lost += 1
    finally:
        stop.set()
        evaluator.join(timeout=30)
    assert lost == 0
    assert is_grad_enabled()


def test_a_new_thread_starts_recording_whatever_the_caller_set():
    seen = []
    with no_grad():
        t = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_set_grad_enabled_works_as_a_plain_call_a_block_and_a_decorator():
    try:
        set_grad_enabled(False)
        assert not is_grad_enabled() and not (Value(1.0) * 2.0).requires_grad
        set_grad_enabled(True)
        assert is_grad_enabled()
        with set_grad_enabled(False):
            assert not is_grad_enabled()
        assert is_grad_enabled()

        @set_grad_enabled(False)
        def frozen() -> bool:
            return is_grad_enabled()

        assert is_grad_enabled() and frozen() is False and is_grad_enabled()
    finally:
        set_grad_enabled(True)


def test_blocks_nest_and_restore_after_errors():
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
        assert not is_grad_enabled()
    with pytest.raises(KeyError), no_grad():
        raise KeyError
    assert is_grad_enabled()
    block = no_grad()
    with block, block:  # the same object entered twice
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_no_grad_decorates_generator_functions():
    w = Value(2.0)

    @no_grad()
    def evaluate(n: int):
        total = 0.0
        for i in range(n):
            v = w * float(i)
            sent = yield v.requires_grad, is_grad_enabled()
            total += sent or 0.0
        return total

    gen = evaluate(3)
    assert next(gen) == (False, False)
    assert is_grad_enabled()  # between resumptions the caller's mode holds
    assert (w * 1.0).requires_grad
    assert gen.send(1.5) == (False, False)
    assert gen.send(2.5) == (False, False)
    with pytest.raises(StopIteration) as done:
        gen.send(3.0)
    assert done.value.value == 7.0
    assert list(evaluate(2)) == [(False, False), (False, False)]

    @no_grad()
    def failing():
        try:
            yield 1
        except ValueError:
            yield is_grad_enabled()

    gen = failing()
    next(gen)
    assert gen.throw(ValueError) is False
    gen.close()
    assert is_grad_enabled()


@pytest.mark.parametrize("reference", [False, True])
def test_concurrent_backward_passes_sum_exactly(fast_switching, reference):
    """Two threads run backward on graphs sharing a parameter: every contribution arrives."""
    from tinygrad_nn import reference_mode
    from tinygrad_nn._fast import switch

    w = Value(np.array([1.0, 2.0, 3.0]))
    s = Value(0.5)
    n = 400
    errors: list[BaseException] = []

    def train(scale: float) -> None:
        try:
            for _ in range(n):
                ((w * scale).sum() * s + s * s).backward()
        except BaseException as exc:  # reported below
            errors.append(exc)

    with reference_mode() if reference else switch.fast_mode():
        threads = [threading.Thread(target=train, args=(k,)) for k in (1.0, 2.0)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    np.testing.assert_array_equal(w.grad, np.full(3, n * (1.0 + 2.0) * 0.5))
    assert s.grad == n * (6.0 + 12.0) + 2 * n * 2 * 0.5
