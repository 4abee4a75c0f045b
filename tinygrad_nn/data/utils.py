"""Helpers around a data set: seeded train/test split, standardization, one-hot targets, mini-batches."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._checks import RNGLike, as_rng, positive_int, same_length

__all__ = ["Standardization", "batches", "num_batches", "one_hot", "standardize", "train_test_split"]


def train_test_split(
    X: ArrayLike, y: ArrayLike, test_size: float = 0.2, rng: RNGLike = 0, stratify: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the rows and split them into a training part and a test part.

    The test part has ``round(test_size * n)`` rows, kept between 1 and ``n - 1`` so
    neither part is empty. With ``stratify=True`` (``y`` must be 1-D labels) each class
    is split in the same proportion: class ``c`` with ``n_c`` rows puts
    ``floor(test_size * n_c)`` or one more of them in the test part (the extra rows
    go to the classes with the largest remainders), so class frequencies match.

    The same ``rng`` seed gives the same split. Returns
    ``X_train, X_test, y_train, y_test`` (rows of ``X`` and ``y`` stay paired).
    """
    func = "train_test_split"
    X, y = np.asarray(X), np.asarray(y)
    n = same_length(func, X, y)
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ValueError(f"{func}: test_size must be a fraction strictly between 0 and 1, got {test_size!r}")
    if n < 2:
        raise ValueError(f"{func}: need at least 2 samples to split, got {n}")
    gen = as_rng(func, rng)
    n_test = min(max(round(float(test_size) * n), 1), n - 1)
    if stratify:
        if y.ndim != 1:
            raise ValueError(f"{func}: stratify=True needs 1-D class labels y, got shape {y.shape}")
        test_idx = _stratified_test_indices(y, float(test_size), n_test, gen)
    else:
        test_idx = gen.permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    # Shuffle both parts so neither comes out grouped by class.
    train_idx = gen.permutation(np.flatnonzero(~is_test))
    test_idx = gen.permutation(np.flatnonzero(is_test))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _stratified_test_indices(
    y: np.ndarray, test_size: float, n_test: int, gen: np.random.Generator
) -> np.ndarray:
    _, labels, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = test_size * counts
    take = np.floor(quota).astype(np.int64)
    # Largest-remainder rounding: the per-class counts add up to exactly n_test.
    remainder = quota - take
    for c in np.argsort(-remainder, kind="stable"):
        if take.sum() >= n_test:
            break
        if take[c] < counts[c]:
            take[c] += 1
    chosen = [gen.permutation(np.flatnonzero(labels == c))[: take[c]] for c in range(len(counts))]
    return np.concatenate(chosen)


class Standardization(NamedTuple):
    """The per-column statistics used by :func:`standardize`; unpacks as ``mean, std``.

    ``std`` is the scale actually divided by: 1 for constant columns.
    """

    mean: np.ndarray
    std: np.ndarray

    def apply(self, X: ArrayLike) -> np.ndarray:
        """Standardize new data with these statistics: ``(X - mean) / std``."""
        X = _float_array("Standardization.apply", "X", X)
        _check_columns("Standardization.apply", X, self.mean.shape)
        return ((X - self.mean) / self.std).astype(X.dtype, copy=False)


def _float_array(func: str, name: str, X: ArrayLike) -> np.ndarray:
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{func}: {name} must hold numbers, got dtype {arr.dtype}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError(f"{func}: {name} needs at least one row, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{func}: {name} contains NaN or infinity")
    return arr


def _check_columns(func: str, X: np.ndarray, expected: tuple[int, ...]) -> None:
    if X.shape[1:] != expected:
        want = "(n, " + ", ".join(map(str, expected)) + ")" if expected else "(n,)"
        raise ValueError(f"{func}: X has shape {X.shape}, expected {want} like the training data")


@overload
def standardize(X_train: ArrayLike, X_test: None = None) -> tuple[np.ndarray, None, Standardization]: ...
@overload
def standardize(X_train: ArrayLike, X_test: ArrayLike) -> tuple[np.ndarray, np.ndarray, Standardization]: ...
def standardize(
    X_train: ArrayLike, X_test: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray | None, Standardization]:
    """Scale each column to zero mean and unit variance, with statistics from the training data only.

    ``z = (x - mean) / std`` with ``mean`` and the population ``std`` (ddof = 0) of each
    column of ``X_train``; ``X_test`` is transformed with the same numbers, so no
    information leaks from the test set. A constant column (``std = 0``, e.g. a digits
    pixel that is blank in every image) is divided by 1 instead and comes out all zeros.

    float32 input stays float32; anything else becomes float64.
    Returns ``(X_train_std, X_test_std or None, Standardization(mean, std))``.
    """
    func = "standardize"
    Xtr = _float_array(func, "X_train", X_train)
    mean = Xtr.mean(axis=0)
    std = Xtr.std(axis=0)
    # Test constancy exactly: a rounding-level std of a constant column would otherwise
    # blow its noise up to values of order 1.
    constant = Xtr.max(axis=0) == Xtr.min(axis=0)
    mean = np.where(constant, Xtr[0], mean)
    std = np.where(constant, 1.0, std).astype(Xtr.dtype)
    stats = Standardization(mean, std)
    Xtr_std = stats.apply(Xtr)
    if X_test is None:
        return Xtr_std, None, stats
    Xte = _float_array(func, "X_test", X_test)
    _check_columns(func, Xte, Xtr.shape[1:])
    return Xtr_std, stats.apply(Xte), stats


def one_hot(y: ArrayLike, num_classes: int, dtype: DTypeLike = np.float64) -> np.ndarray:
    """One-hot rows for integer labels: ``out[..., k] = 1 if y == k else 0``.

    ``y`` has any shape with values in ``0 .. num_classes-1`` (integral floats are
    accepted); the result has shape ``y.shape + (num_classes,)``. ``num_classes`` is
    explicit so a test split that happens to miss a class still gets the right width.
    """
    func = "one_hot"
    num_classes = positive_int(func, "num_classes", num_classes)
    labels = np.asarray(y)
    if labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)].flat[0]
        raise ValueError(f"one_hot: label {bad} is outside 0..{num_classes - 1} (num_classes={num_classes})")
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)


def batches(
    X: ArrayLike, y: ArrayLike, batch_size: int, rng: RNGLike | None = None, shuffle: bool = True
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate once over the data in mini-batches ``(X_batch, y_batch)`` (one epoch).

    Every row appears exactly once; the last batch holds the ``n % batch_size``
    leftover rows when the size does not divide ``n``. With ``shuffle=True`` the order
    is a random permutation drawn from ``rng``:

    * an int seed gives the same order on every call;
    * a ``numpy.random.Generator`` advances, so calling ``batches`` each epoch with the
      same Generator gives a new, reproducible order per epoch;
    * ``None`` uses fresh OS entropy (not reproducible).

    Arguments are checked when ``batches`` is called, not at the first ``next()``.
    """
    func = "batches"
    X, y = np.asarray(X), np.asarray(y)
    n = same_length(func, X, y)
    batch_size = positive_int(func, "batch_size", batch_size)
    order = as_rng(func, rng, allow_none=True).permutation(n) if shuffle else None
    return _iter_batches(X, y, batch_size, order)


def _iter_batches(
    X: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    n = X.shape[0]
    for start in range(0, n, batch_size):
        if order is None:
            yield X[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield X[idx], y[idx]


def num_batches(n: int, batch_size: int) -> int:
    """How many batches :func:`batches` yields for ``n`` rows: ``ceil(n / batch_size)``."""
    return math.ceil(
        positive_int("num_batches", "n", n) / positive_int("num_batches", "batch_size", batch_size)
    )
