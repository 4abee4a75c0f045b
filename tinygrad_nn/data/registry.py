"""Load any data set by name, as the command line does: ``load("moons") -> (X, y, task)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import synthetic
from ._checks import RNGLike, as_rng, non_negative_float, positive_int
from .datasets import load_digits, load_iris

__all__ = ["DATASET_NAMES", "Task", "load"]

#: The names :func:`load` accepts (the ``--dataset`` choices of the command line).
DATASET_NAMES: tuple[str, ...] = ("iris", "digits", "xor", "moons", "spirals", "sum", "linear")


@dataclass(frozen=True)
class Task:
    """What kind of learning problem a data set poses.

    Attributes:
        kind: ``"classification"`` (``y`` holds int labels) or ``"regression"``
            (``y`` is a float array of shape ``(n, num_targets)``).
        num_classes: number of classes for classification, ``None`` for regression.
        num_targets: number of target columns for regression (1 for classification).
    """

    kind: Literal["classification", "regression"]
    num_classes: int | None = None
    num_targets: int = 1

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    @property
    def num_outputs(self) -> int:
        """Width of a network's output layer: one unit per class, or per target column."""
        return self.num_classes if self.num_classes is not None else self.num_targets

    def __str__(self) -> str:
        if self.num_classes is not None:
            return f"classification, {self.num_classes} classes"
        return f"regression, {self.num_targets} target{'s' if self.num_targets != 1 else ''}"


# name -> (generator taking n, noise and rng; default n; default noise or None if it has none; task)
_Generator = Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]
_SYNTHETIC: dict[str, tuple[_Generator, int, float | None, Task]] = {
    # 200 noisy samples rather than the 4-row truth table, so a train/test split makes sense.
    "xor": (lambda n, noise, g: synthetic.xor(n, noise, g), 200, 0.1, Task("classification", 2)),
    "moons": (lambda n, noise, g: synthetic.moons(n, noise, g), 200, 0.1, Task("classification", 2)),
    "spirals": (lambda n, noise, g: synthetic.spirals(n, 2, noise, g), 300, 0.05, Task("classification", 2)),
    "sum": (lambda n, noise, g: synthetic.sum_data(n, rng=g), 10_000, None, Task("regression", None, 1)),
    "linear": (lambda n, noise, g: synthetic.linear(n, noise, g), 100, 0.0, Task("regression", None, 1)),
}

_BUNDLED = {"iris": load_iris, "digits": load_digits}


def load(
    name: str, *, n: int | None = None, noise: float | None = None, rng: RNGLike = 0
) -> tuple[np.ndarray, np.ndarray, Task]:
    """Load a data set by its command-line name; returns ``(X, y, task)``.

    ``name`` is one of :data:`DATASET_NAMES`:

    ========  ======================================  ==============================
    name      data                                    task
    ========  ======================================  ==============================
    iris      bundled, 150 x 4                        classification, 3 classes
    digits    bundled, 1797 x 64 (pixels 0..16)       classification, 10 classes
    xor       :func:`xor`, 200 points, noise 0.1      classification, 2 classes
    moons     :func:`moons`, 200 points, noise 0.1    classification, 2 classes
    spirals   :func:`spirals`, 300 points, 2 arms     classification, 2 classes
    sum       :func:`sum_data`, 10,000 points         regression, ``y`` shape (n, 1)
    linear    :func:`linear`, 100 points              regression, ``y`` shape (n, 1)
    ========  ======================================  ==============================

    ``n`` and ``noise`` override a generator's defaults (``sum`` has no noise; the
    bundled sets accept neither); ``rng`` seeds the generators.
    """
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"load: unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    if name in _BUNDLED:
        if n is not None or noise is not None:
            raise ValueError(f"load: {name!r} is a fixed bundled data set; n and noise cannot be set")
        ds = _BUNDLED[name]()
        return ds.X, ds.y, Task("classification", ds.n_classes)
    generate, default_n, default_noise, task = _SYNTHETIC[name]
    size = default_n if n is None else positive_int("load", "n", n)
    if default_noise is None:
        if noise is not None:
            raise ValueError(f"load: {name!r} has no noise parameter; got noise={noise!r}")
        level = 0.0
    else:
        level = default_noise if noise is None else non_negative_float("load", "noise", noise)
    X, y = generate(size, level, as_rng("load", rng))
    return X, y, task
