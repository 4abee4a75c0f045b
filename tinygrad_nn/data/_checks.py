"""Argument checks shared by the data module: every error names the function and the bad value."""

from __future__ import annotations

import numbers

import numpy as np

#: What the ``rng`` arguments accept: an int seed or an existing generator.
RNGLike = int | np.random.Generator


def positive_int(func: str, name: str, value: object) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 1, else raise naming ``func``."""
    # bool is an int subclass; ``n=True`` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{func}: {name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{func}: {name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_float(func: str, name: str, value: object) -> float:
    """Return ``value`` as a ``float`` if it is a finite real >= 0, else raise naming ``func``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: {name} must be a non-negative number, got {value!r}")
    out = float(value)
    if not np.isfinite(out) or out < 0:
        raise ValueError(f"{func}: {name} must be a finite number >= 0, got {value!r}")
    return out


def as_rng(func: str, rng: object, *, allow_none: bool = False) -> np.random.Generator:
    """Turn an int seed (or a Generator, passed through) into a ``numpy.random.Generator``.

    A Generator is returned as is, so its state advances across calls: that is how a
    caller gets a fresh shuffle each epoch from one seed.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None and allow_none:
        return np.random.default_rng()
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral):
        expected = (
            "an int seed, a numpy Generator or None" if allow_none else "an int seed or a numpy Generator"
        )
        raise TypeError(f"{func}: rng must be {expected}, got {rng!r}")
    if rng < 0:
        raise ValueError(f"{func}: rng seed must be >= 0, got {rng!r}")
    return np.random.default_rng(int(rng))


def same_length(func: str, X: np.ndarray, y: np.ndarray) -> int:
    """Check that ``X`` and ``y`` have the same number of rows (at least one) and return it."""
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{func}: X and y need a leading sample axis, got shapes {X.shape} and {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{func}: X and y have different numbers of samples: shapes {X.shape} and {y.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{func}: X and y are empty (shapes {X.shape} and {y.shape})")
    return int(X.shape[0])
