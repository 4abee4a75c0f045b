"""Real data sets bundled with the package: read from package data, never from the network.

The files are unchanged copies of those in scikit-learn's distribution
(``sklearn/datasets/data/``); see ``README.md`` in this directory for sources,
licences (CC BY 4.0) and checksums.
"""

from __future__ import annotations

import functools
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

__all__ = ["Dataset", "load_digits", "load_iris"]


@dataclass(frozen=True)
class Dataset:
    """A bundled data set: features, integer labels and their names.

    Unpacks as a pair, so ``X, y = load_iris()`` works.

    Attributes:
        X: float64 features, shape ``(n_samples, n_features)``.
        y: int64 class labels, shape ``(n_samples,)``, values ``0 .. n_classes-1``.
        feature_names: one name per column of ``X``.
        target_names: one name per class; ``target_names[k]`` names label ``k``.
        name: short name (``"iris"``, ``"digits"``).
        description: one-paragraph summary with the source and licence.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    name: str
    description: str = field(repr=False)

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(target_names)``)."""
        return len(self.target_names)

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.X
        yield self.y


IRIS_DESCRIPTION = (
    "Iris: 150 flowers, 50 of each of three species, measured in cm (sepal length, sepal width, "
    "petal length, petal width). R. A. Fisher (1936); UCI Machine Learning Repository, "
    "https://doi.org/10.24432/C56C76, CC BY 4.0. This copy is scikit-learn's, which follows "
    "Fisher's paper (two values differ from UCI's iris.data)."
)

DIGITS_DESCRIPTION = (
    "Digits: 1797 8x8 images of handwritten digits 0-9, each pixel the count (0..16) of set "
    "pixels in a 4x4 block of a 32x32 bitmap; row r, column c of the image is feature 8r + c. "
    "E. Alpaydin and C. Kaynak (1998), Optical Recognition of Handwritten Digits (test set), "
    "UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0. "
    "Copy taken from scikit-learn's distribution."
)


def _read_bytes(filename: str) -> bytes:
    # importlib.resources also works when the package is imported from a zip file.
    return resources.files("tinygrad_nn.data").joinpath(filename).read_bytes()


@functools.cache
def _iris_arrays() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    text = _read_bytes("iris.csv").decode("ascii")
    # Header: n_samples, n_features, then the class names.
    header, _, body = text.partition("\n")
    n_samples, n_features, *class_names = header.strip().split(",")
    table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    X, y = table[:, :-1], table[:, -1].astype(np.int64)
    # A corrupted file must not load as a silently wrong data set.
    if X.shape != (int(n_samples), int(n_features)) or y.min() < 0 or y.max() >= len(class_names):
        raise RuntimeError(f"load_iris: bundled iris.csv is corrupt (got X {X.shape}, header {header!r})")
    return X, y, tuple(class_names)


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    text = gzip.decompress(_read_bytes("digits.csv.gz")).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    X, y = table[:, :-1], table[:, -1].astype(np.int64)
    if X.shape != (1797, 64) or X.min() < 0 or X.max() > 16 or y.min() < 0 or y.max() > 9:
        raise RuntimeError(f"load_digits: bundled digits.csv.gz is corrupt (got X {X.shape})")
    return X, y


def load_iris() -> Dataset:
    """Fisher's iris data: 150 samples x 4 features (cm), 3 classes of 50.

    Labels: 0 setosa, 1 versicolor, 2 virginica (rows are sorted by class).
    Returns a fresh copy each call, so modifying it does not affect later loads.

    >>> ds = load_iris()
    >>> ds.X.shape, ds.y.shape, ds.target_names
    ((150, 4), (150,), ('setosa', 'versicolor', 'virginica'))
    """
    X, y, class_names = _iris_arrays()
    return Dataset(
        X=X.copy(),
        y=y.copy(),
        feature_names=("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"),
        target_names=class_names,
        name="iris",
        description=IRIS_DESCRIPTION,
    )


def load_digits() -> Dataset:
    """The UCI 8x8 handwritten digits: 1797 samples x 64 pixel features in ``0..16``, 10 classes.

    Feature ``8 * r + c`` is the pixel at row ``r``, column ``c``; ``ds.X.reshape(-1, 8, 8)``
    gives the images. Labels are the digits 0..9. Features are float64 (the counts are
    exact integers); several border pixels are 0 in every image, so standardize with
    :func:`tinygrad_nn.data.standardize`, which leaves constant columns at 0.

    >>> ds = load_digits()
    >>> ds.X.shape, int(ds.X.max()), ds.n_classes
    ((1797, 64), 16, 10)
    """
    X, y = _digits_arrays()
    return Dataset(
        X=X.copy(),
        y=y.copy(),
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
        target_names=tuple(str(d) for d in range(10)),
        name="digits",
        description=DIGITS_DESCRIPTION,
    )
