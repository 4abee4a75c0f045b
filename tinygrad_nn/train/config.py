"""The options of a training run: :class:`TrainConfig`, their checks and their defaults."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import data
from ..data import Task

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "TrainConfig",
    "TrainConfigError",
    "default_epochs",
    "default_lr",
    "parse_hidden",
]

ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu")
"""The hidden-layer activations a run offers (names in :data:`tinygrad_nn.nn.ACTIVATIONS`)."""

LOSSES: tuple[str, ...] = ("sse", "mse", "cross-entropy")
"""The losses a run offers."""

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
"""The optimizers a run offers."""

# Epochs that bring each data set close to its best test score with the
# defaults (tanh, Adam) in a few seconds.
_DEFAULT_EPOCHS = {
    "iris": 60,
    "digits": 15,
    "xor": 100,
    "moons": 150,
    "spirals": 300,
    "sum": 5,
    "linear": 200,
}


class TrainConfigError(ValueError):
    """A training option is invalid; the message is one line naming the option."""


def parse_hidden(text: str) -> tuple[int, ...]:
    """Parse ``--hidden``: comma-separated positive widths like ``"10,10"``; ``"none"``: no hidden layer.

    The empty string is refused rather than read as "none": an unset shell
    variable should not silently change the architecture.
    """
    stripped = text.strip()
    if stripped.lower() == "none":
        return ()
    if not stripped:
        raise TrainConfigError(
            f"--hidden: expected comma-separated positive integers like 10,10, or 'none' for no hidden "
            f"layer, got {text!r}"
        )
    sizes = []
    for part in stripped.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) <= 0:
            raise TrainConfigError(
                f"--hidden: expected comma-separated positive integers like 10,10, got {text!r}"
            )
        sizes.append(int(part))
    return tuple(sizes)


def default_epochs(dataset: str) -> int:
    """The number of epochs used when none is given (depends on the data set's size)."""
    return _DEFAULT_EPOCHS.get(dataset, 100)


def default_lr(optimizer: str, loss: str) -> float:
    """The learning rate used when none is given.

    Adam's step size hardly depends on the loss's scale: 0.01. Plain SGD's
    does: ``sse`` sums over the batch (its gradient grows with the batch
    size), so it gets a smaller rate than the averaged losses.
    """
    if optimizer == "adam":
        return 0.01
    return 0.02 if loss == "sse" else 0.2


MAX_WIDTH = 100_000
"""The widest hidden layer ``train`` builds."""
MAX_WEIGHTS = 100_000_000
"""The most weights between two hidden layers (800 MB in float64)."""


@dataclass(frozen=True)
class TrainConfig:
    """The options of a training run (the ``tinygrad-nn train`` flags).

    ``None`` means "the default for this data set / optimizer / loss":
    ``loss`` → cross-entropy for classification, mse for regression;
    ``lr`` → :func:`default_lr`; ``epochs`` → :func:`default_epochs`;
    ``out`` → ``runs/<dataset>`` (relative to the working directory).
    """

    dataset: str = "iris"
    hidden: tuple[int, ...] = (10,)
    activation: str = "tanh"
    loss: str | None = None
    optimizer: str = "adam"
    lr: float | None = None
    epochs: int | None = None
    batch_size: int = 16
    seed: int = 0
    test_size: float = 0.2
    out: str | os.PathLike[str] | None = None

    def resolved(self, task: Task | None = None) -> TrainConfig:
        """A checked copy with every ``None`` replaced by its default; raises :class:`TrainConfigError`."""
        if self.dataset not in data.DATASET_NAMES:
            raise TrainConfigError(
                f"--dataset: unknown dataset {self.dataset!r}; choose one of {', '.join(data.DATASET_NAMES)}"
            )
        if self.activation not in ACTIVATIONS:
            raise TrainConfigError(
                f"--activation: must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise TrainConfigError(
                f"--optimizer: must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.loss is not None and self.loss not in LOSSES:
            raise TrainConfigError(f"--loss: must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in self.hidden):
            raise TrainConfigError(f"--hidden: layer widths must be positive integers, got {self.hidden!r}")
        too_wide = [h for h in self.hidden if h > MAX_WIDTH]
        if too_wide:
            raise TrainConfigError(f"--hidden: layer widths must be at most {MAX_WIDTH:,}, got {too_wide[0]}")
        if any(a * b > MAX_WEIGHTS for a, b in itertools.pairwise(self.hidden)):
            raise TrainConfigError(
                f"--hidden: {self.hidden!r} needs a weight matrix of more than {MAX_WEIGHTS:,} entries"
            )
        if self.out is not None and not str(self.out).strip():
            raise TrainConfigError("--out: expected a directory for the run, got an empty path")
        _positive_int("--batch-size", self.batch_size)
        if self.epochs is not None:
            _positive_int("--epochs", self.epochs)
        if self.lr is not None and not (
            isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0
        ):
            raise TrainConfigError(f"--lr: the learning rate must be a finite number > 0, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TrainConfigError(f"--seed: must be an integer >= 0, got {self.seed!r}")
        if not (isinstance(self.test_size, float) and 0.0 < self.test_size < 1.0):
            raise TrainConfigError(
                f"test_size: must be a fraction strictly between 0 and 1, got {self.test_size!r}"
            )
        loss = self.loss
        if task is not None:
            if loss is None:
                loss = "cross-entropy" if task.is_classification else "mse"
            elif loss == "cross-entropy" and not task.is_classification:
                raise TrainConfigError(
                    f"--loss: cross-entropy needs a classification dataset; {self.dataset!r} is regression "
                    f"(use mse or sse)"
                )
        return dataclasses.replace(
            self,
            loss=loss,
            lr=float(self.lr) if self.lr is not None else default_lr(self.optimizer, loss or "cross-entropy"),
            epochs=self.epochs if self.epochs is not None else default_epochs(self.dataset),
            out=Path(self.out) if self.out is not None else Path("runs") / self.dataset,
        )


def _positive_int(flag: str, n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise TrainConfigError(f"{flag}: must be a positive integer, got {n!r}")
