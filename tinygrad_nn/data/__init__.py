"""Data for training and teaching: bundled real data sets, synthetic generators, helpers.

Everything is offline: iris and the 8x8 digits ship inside the package (see
``README.md`` here for sources and licences), the toy problems are generated from a seed.

>>> from tinygrad_nn import data
>>> X, y = data.load_iris()
>>> X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, rng=0, stratify=True)
>>> X_tr, X_te, (mean, std) = data.standardize(X_tr, X_te)
>>> X_tr.shape, X_te.shape, data.one_hot(y_tr, 3).shape
((120, 4), (30, 4), (120, 3))
>>> sum(len(xb) for xb, yb in data.batches(X_tr, y_tr, batch_size=32, rng=0))
120
>>> X, y, task = data.load("moons", rng=1)
>>> X.shape, str(task)
((200, 2), 'classification, 2 classes')
"""

from ._checks import RNGLike
from .datasets import Dataset, load_digits, load_iris
from .registry import DATASET_NAMES, Task, load
from .synthetic import LINEAR_WEIGHTS, linear, moons, or_gate, spirals, sum_data, xor
from .utils import Standardization, batches, num_batches, one_hot, standardize, train_test_split

__all__ = [
    "DATASET_NAMES",
    "LINEAR_WEIGHTS",
    "Dataset",
    "RNGLike",
    "Standardization",
    "Task",
    "batches",
    "linear",
    "load",
    "load_digits",
    "load_iris",
    "moons",
    "num_batches",
    "one_hot",
    "or_gate",
    "spirals",
    "standardize",
    "sum_data",
    "train_test_split",
    "xor",
]
