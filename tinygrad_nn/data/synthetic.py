"""Small synthetic data sets, generated on demand and reproducible per seed.

Every generator returns ``(X, y)`` numpy arrays:

* ``X`` is float64 with shape ``(n, d)``;
* classification labels ``y`` are int64 with shape ``(n,)`` and values ``0 .. classes-1``
  (use :func:`tinygrad_nn.data.one_hot` or ``y[:, None]`` for network targets);
* regression targets ``y`` are float64 column vectors, shape ``(n, 1)``.

``rng`` is an int seed or a ``numpy.random.Generator``: the same seed gives the same
data; passing a Generator draws from (and advances) its stream.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._checks import RNGLike, as_rng, non_negative_float, positive_int

__all__ = ["LINEAR_WEIGHTS", "linear", "moons", "or_gate", "spirals", "sum_data", "xor"]

#: The weights of the :func:`linear` task: ``t = X @ LINEAR_WEIGHTS``.
LINEAR_WEIGHTS = np.array([2.0, -1.0, 5.0])
LINEAR_WEIGHTS.flags.writeable = False

# The four input rows of a two-input truth table, in the usual order 00, 01, 10, 11.
_TRUTH_TABLE_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_TRUTH_TABLE_INPUTS.flags.writeable = False


def _add_noise(X: np.ndarray, noise: float, gen: np.random.Generator) -> np.ndarray:
    # Skipping the draw at noise == 0 keeps noiseless data exactly on its curve.
    if noise > 0:
        X = X + gen.normal(0.0, noise, size=X.shape)
    return X


def _gate(
    func: str, labels: list[int], n: int | None, noise: float, rng: RNGLike
) -> tuple[np.ndarray, np.ndarray]:
    noise = non_negative_float(func, "noise", noise)
    gen = as_rng(func, rng)
    table_y = np.array(labels, dtype=np.int64)
    if n is None:
        corners = np.arange(4)
    else:
        n = positive_int(func, "n", n)
        # Cycle through the four rows so every row appears n // 4 or n // 4 + 1 times.
        corners = gen.permutation(np.arange(n) % 4)
    X = _add_noise(_TRUTH_TABLE_INPUTS[corners], noise, gen)
    return X, table_y[corners]


def xor(n: int | None = None, noise: float = 0.0, rng: RNGLike = 0) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: ``y = x0 XOR x1`` on the corners of the unit square.

    With ``n=None`` (the default) returns the 4-row truth table in the order
    ``00, 01, 10, 11``: ``X`` of shape ``(4, 2)`` and ``y = [0, 1, 1, 0]``.
    With an integer ``n`` returns ``n`` rows, each corner ``n // 4`` or ``n // 4 + 1``
    times, in shuffled order. ``noise`` > 0 adds Gaussian noise of that standard
    deviation to the inputs (labels stay those of the corner).

    Returns ``X`` float64 ``(n, 2)`` and ``y`` int64 ``(n,)``.
    """
    return _gate("xor", [0, 1, 1, 0], n, noise, rng)


def or_gate() -> tuple[np.ndarray, np.ndarray]:
    """The OR gate truth table, rows in the order ``00, 01, 10, 11``.

    Returns ``X`` float64 ``(4, 2)`` and ``y = [0, 1, 1, 1]`` int64 ``(4,)``. For a single
    sigmoid output unit use ``y[:, None].astype(float)`` as the target column.
    """
    return _gate("or_gate", [0, 1, 1, 1], None, 0.0, 0)


def moons(n: int = 200, noise: float = 0.1, rng: RNGLike = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles ("two moons").

    Class 0 lies on the upper unit half circle ``(cos t, sin t)``, class 1 on the
    lower one shifted to ``(1 - cos t, 1/2 - sin t)``, with ``t`` uniform in ``[0, pi]``.
    Class 0 gets ``ceil(n / 2)`` points, class 1 ``floor(n / 2)``; rows are shuffled.
    ``noise`` is the standard deviation of Gaussian noise added to each coordinate.

    Returns ``X`` float64 ``(n, 2)`` and ``y`` int64 ``(n,)``.
    """
    n = positive_int("moons", "n", n)
    noise = non_negative_float("moons", "noise", noise)
    gen = as_rng("moons", rng)
    n1 = n // 2
    n0 = n - n1
    t0 = gen.uniform(0.0, math.pi, n0)
    t1 = gen.uniform(0.0, math.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = _add_noise(np.concatenate([upper, lower]), noise, gen)
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    order = gen.permutation(n)
    return X[order], y[order]


def spirals(
    n: int = 300, classes: int = 2, noise: float = 0.05, rng: RNGLike = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` interleaved spiral arms around the origin (2 or 3 is the classic setting).

    Arm ``k`` is ``r (cos theta, sin theta)`` with radius ``r`` uniform in ``[0, 1]`` and
    ``theta = 2 pi (k / classes + r)``: each arm makes one full turn and the arms are
    rotated evenly apart. The ``n`` points are split as evenly as possible (the first
    ``n % classes`` arms get one extra); rows are shuffled. ``noise`` is the standard
    deviation of Gaussian noise added to each coordinate.

    Returns ``X`` float64 ``(n, 2)`` and ``y`` int64 ``(n,)`` with values ``0 .. classes-1``.
    """
    n = positive_int("spirals", "n", n)
    classes = positive_int("spirals", "classes", classes)
    if classes < 2:
        raise ValueError(f"spirals: classes must be at least 2, got {classes}")
    noise = non_negative_float("spirals", "noise", noise)
    gen = as_rng("spirals", rng)
    counts = [n // classes + (k < n % classes) for k in range(classes)]
    y = np.repeat(np.arange(classes, dtype=np.int64), counts)
    r = gen.uniform(0.0, 1.0, n)
    theta = 2.0 * math.pi * (y / classes + r)
    X = _add_noise(r[:, None] * np.column_stack([np.cos(theta), np.sin(theta)]), noise, gen)
    order = gen.permutation(n)
    return X[order], y[order]


def sum_data(
    n: int = 10_000, low: float = 0.0, high: float = 0.5, rng: RNGLike = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The "learn to add" regression task: ``y = x0 + x1``.

    ``X`` is drawn uniformly from ``[low, high)^2``. The default range ``[0, 0.5)``
    keeps every target in ``[0, 1)``, which a sigmoid output unit can reach
    (the classic tutorial trains 2 -> 3 sigmoid -> 1 sigmoid on 10,000 such points).

    Returns ``X`` float64 ``(n, 2)`` and ``y`` float64 ``(n, 1)``.
    """
    n = positive_int("sum_data", "n", n)
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"sum_data: {name} must be a finite number, got {value!r}")
    if not low < high:
        raise ValueError(f"sum_data: need low < high, got low={low!r}, high={high!r}")
    gen = as_rng("sum_data", rng)
    X = gen.uniform(float(low), float(high), size=(n, 2))
    return X, X.sum(axis=1, keepdims=True)


def linear(n: int = 100, noise: float = 0.0, rng: RNGLike = 0) -> tuple[np.ndarray, np.ndarray]:
    """Linear regression targets ``t = X . [2, -1, 5]`` (see :data:`LINEAR_WEIGHTS`).

    ``X`` is uniform in ``[-1, 1)^3``, a range where tanh hidden units are not
    saturated. ``noise`` > 0 adds Gaussian noise of that standard deviation to ``t``.

    Returns ``X`` float64 ``(n, 3)`` and ``t`` float64 ``(n, 1)``.
    """
    n = positive_int("linear", "n", n)
    noise = non_negative_float("linear", "noise", noise)
    gen = as_rng("linear", rng)
    X = gen.uniform(-1.0, 1.0, size=(n, 3))
    t = _add_noise((X @ LINEAR_WEIGHTS)[:, None], noise, gen)
    return X, t
