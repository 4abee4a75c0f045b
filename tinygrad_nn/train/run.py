"""What a run's checkpoint says about itself (:class:`RunMetadata`), and :func:`load_run`, which reads it.

``model.npz`` holds the weights and, in the same file (see
:func:`tinygrad_nn.checkpoint.save_npz`), a JSON description of the model
they belong to: the layer sizes, the activations, the feature
standardization, the task and its class names, the data set, and how far
training got. A model and its description are therefore always written and
replaced together. This module is the one place that knows that format:
:func:`load_run` is how a run is read back.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

from .. import data, nn
from ..checkpoint import CheckpointError, load_npz, load_npz_metadata, save_npz
from .config import ACTIVATIONS, LOSSES

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedRun", "RunMetadata", "load_run"]

FORMAT = "tinygrad_nn run"
"""The ``format`` field of a run's metadata: what tells a run's checkpoint from any other ``.npz``."""

FORMAT_VERSION = 1
"""The version of the metadata written now; :func:`load_run` reads this version and older."""


@dataclass(frozen=True, eq=False)  # (the arrays of standardization have no plain ==; compare to_json())
class RunMetadata:
    """The description a run's ``model.npz`` carries beside the weights.

    Attributes:
        run_id: a random id, also recorded in ``metrics.json``, tying the run's files together.
        dataset: the data set's name (:data:`tinygrad_nn.data.DATASET_NAMES`).
        task: classification (with its number of classes) or regression (with its targets).
        class_names: one name per output unit for classification (``class_names[k]``
            names label ``k``); None for regression.
        layers: every layer's width, the input's first and the output's last (``4, 10, 3``).
        activation: the hidden layers' activation (present in the model only when it has
            hidden layers).
        output: ``"sigmoid"`` when the outputs are sigmoid units (``sse``/``mse`` on a
            classification set), None for raw scores or a linear output.
        loss: the loss trained with.
        standardization: the training features' mean and std; new inputs go through
            ``standardization.apply(X)`` before the model.
        epochs: the epochs asked for.
        epochs_completed: the epochs the weights have been trained for.
        interrupted: True when training was stopped (Ctrl-C) before ``epochs``.
        config: the training options (:class:`~tinygrad_nn.train.TrainConfig` as JSON).
        version: the format version the file was written with.
    """

    run_id: str
    dataset: str
    task: data.Task
    class_names: tuple[str, ...] | None
    layers: tuple[int, ...]
    activation: str
    output: str | None
    loss: str
    standardization: data.Standardization
    epochs: int
    epochs_completed: int
    interrupted: bool
    config: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    @property
    def hidden(self) -> tuple[int, ...]:
        """The hidden layers' widths."""
        return self.layers[1:-1]

    @property
    def num_parameters(self) -> int:
        """How many numbers the weights of these layers hold (each Dense layer has a bias)."""
        return sum(a * b + b for a, b in itertools.pairwise(self.layers))

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in the checkpoint."""
        task: dict[str, Any] = {"kind": self.task.kind}
        if self.task.is_classification:
            task["classes"] = list(self.class_names or ())
        else:
            task["targets"] = self.task.num_targets
        return {
            "format": FORMAT,
            "version": self.version,
            "run_id": self.run_id,
            "dataset": self.dataset,
            "task": task,
            "layers": list(self.layers),
            "activation": self.activation,
            "output": self.output,
            "loss": self.loss,
            "standardization": {
                "mean": [float(v) for v in self.standardization.mean],
                "std": [float(v) for v in self.standardization.std],
            },
            "epochs": self.epochs,
            "epochs_completed": self.epochs_completed,
            "interrupted": self.interrupted,
            "config": self.config,
        }

    @classmethod
    def from_json(cls, meta: dict[str, Any], where: str = "run metadata") -> RunMetadata:
        """Check a stored JSON object and build the metadata; :class:`CheckpointError` names what is wrong."""
        r = _Reader(meta, where)
        if meta.get("format") != FORMAT:
            r.fail(f"not a tinygrad_nn run (format {meta.get('format')!r}, expected {FORMAT!r})")
        version = r.integer("version", low=1)
        if version > FORMAT_VERSION:
            r.fail(f"format version {version} is newer than this tinygrad_nn reads ({FORMAT_VERSION})")
        layers = tuple(r.integers("layers", low=1))
        if len(layers) < 2:
            r.fail(f"'layers' needs at least an input and an output width, got {list(layers)}")
        task_json = r.mapping("task")
        kind = task_json.get("kind")
        class_names: tuple[str, ...] | None = None
        if kind == "classification":
            names = task_json.get("classes")
            if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names)):
                r.fail(f"'task.classes' must be a list of at least two class names, got {names!r}")
            class_names = tuple(names)
            task = data.Task("classification", len(class_names))
        elif kind == "regression":
            task = data.Task("regression", None, _Reader(task_json, where, "task.").integer("targets", low=1))
        else:
            r.fail(f"'task.kind' must be 'classification' or 'regression', got {kind!r}")
        if task.num_outputs != layers[-1]:
            r.fail(f"the task has {task.num_outputs} outputs but the last layer has width {layers[-1]}")
        stats = r.mapping("standardization")
        mean = _Reader(stats, where, "standardization.").numbers("mean")
        std = _Reader(stats, where, "standardization.").numbers("std")
        if len(mean) != layers[0] or len(std) != layers[0] or min(std, default=1.0) <= 0:
            r.fail(
                f"'standardization' needs {layers[0]} means and {layers[0]} positive stds (the input width), "
                f"got {len(mean)} and {len(std)}"
            )
        epochs, completed = r.integer("epochs", low=1), r.integer("epochs_completed", low=1)
        if completed > epochs:
            r.fail(f"'epochs_completed' ({completed}) is more than 'epochs' ({epochs})")
        output = meta.get("output")
        if output not in (None, "sigmoid"):
            r.fail(f"'output' must be null or 'sigmoid', got {output!r}")
        return cls(
            run_id=r.text("run_id"),
            dataset=r.one_of("dataset", data.DATASET_NAMES),
            task=task,
            class_names=class_names,
            layers=layers,
            activation=r.one_of("activation", ACTIVATIONS),
            output=output,
            loss=r.one_of("loss", LOSSES),
            standardization=data.Standardization(np.array(mean), np.array(std)),
            epochs=epochs,
            epochs_completed=completed,
            interrupted=r.flag("interrupted"),
            config=r.mapping("config"),
            version=version,
        )


class LoadedRun(NamedTuple):
    """What :func:`load_run` returns: the model with its trained weights, and its description."""

    model: nn.Sequential
    metadata: RunMetadata


def save_run_checkpoint(path: str | os.PathLike[str], model: nn.Module, metadata: RunMetadata) -> None:
    """Write ``model``'s weights and ``metadata`` to ``path`` as one ``.npz``, atomically."""
    save_npz(path, model.state_dict(), metadata=metadata.to_json())


def load_run(path: str | os.PathLike[str]) -> LoadedRun:
    """Read a run written by ``tinygrad-nn train``: the model, rebuilt and loaded, and its metadata.

    ``path`` is the run's directory or its ``model.npz``. The metadata is
    checked, the weights are read (never unpickling, with the bounds of
    :func:`~tinygrad_nn.checkpoint.load_npz`) and must match the layers the
    metadata describes, name for name and shape for shape. Raises
    :class:`FileNotFoundError` when there is no checkpoint and
    :class:`~tinygrad_nn.checkpoint.CheckpointError`, naming the file, when
    the metadata is missing (e.g. a file written by
    :meth:`~tinygrad_nn.nn.Module.save`), corrupt, or disagrees with the weights.

    >>> import io
    >>> from tinygrad_nn.train import TrainConfig, load_run, train
    >>> _ = train(TrainConfig(dataset="xor", epochs=2, out="runs/doc"), quiet=True, stdout=io.StringIO())
    >>> model, meta = load_run("runs/doc")
    >>> meta.layers, meta.activation, meta.class_names, meta.epochs_completed
    ((2, 10, 2), 'tanh', ('0', '1'), 2)
    >>> model(meta.standardization.apply([[0.0, 1.0]])).shape
    (1, 2)
    """
    file = Path(path)
    if file.is_dir():
        file = file / "model.npz"
    where = os.fspath(file)
    stored = load_npz_metadata(file)
    if stored is None:
        raise CheckpointError(
            f"{where}: no run metadata (a checkpoint written by Module.save rather than by tinygrad-nn "
            f"train?); load it with Module.load into a model of the same architecture"
        )
    meta = RunMetadata.from_json(stored, where)
    state = load_npz(file)
    held = sum(int(a.size) for a in state.values())
    if held != meta.num_parameters:
        # Checked before the model is built: a crafted description cannot allocate more than the file holds.
        raise CheckpointError(
            f"{where}: the metadata describes layers {list(meta.layers)} ({meta.num_parameters:,} weights), "
            f"the file holds {held:,}"
        )
    output = meta.output
    model = nn.mlp(list(meta.layers), meta.activation, output, rng=0)
    try:
        model.load_state_dict(state)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: the weights do not fit the metadata's layers ({exc})") from None
    return LoadedRun(model, meta)


class _Reader:
    """Typed access to one JSON object's fields; every failure is one CheckpointError naming the field."""

    def __init__(self, obj: dict[str, Any], where: str, prefix: str = "") -> None:
        self.obj, self.where, self.prefix = obj, where, prefix

    def fail(self, problem: str) -> NoReturn:
        raise CheckpointError(f"{self.where}: run metadata: {problem}")

    def get(self, key: str) -> Any:
        if key not in self.obj:
            self.fail(f"the field '{self.prefix}{key}' is missing")
        return self.obj[key]

    def integer(self, key: str, low: int) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.fail(f"'{self.prefix}{key}' must be an integer >= {low}, got {value!r}")
        return int(value)

    def integers(self, key: str, low: int) -> list[int]:
        value = self.get(key)
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value
        ):
            self.fail(f"'{self.prefix}{key}' must be a list of integers >= {low}, got {value!r}")
        return list(value)

    def numbers(self, key: str) -> list[float]:
        value = self.get(key)
        if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        ):
            self.fail(f"'{self.prefix}{key}' must be a list of finite numbers")
        return [float(v) for v in value]

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            self.fail(f"'{self.prefix}{key}' must be a non-empty string, got {value!r}")
        return str(value)

    def one_of(self, key: str, names: tuple[str, ...]) -> str:
        value = self.get(key)
        if value not in names:
            self.fail(f"'{self.prefix}{key}' must be one of {', '.join(names)}, got {value!r}")
        return str(value)

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            self.fail(f"'{self.prefix}{key}' must be true or false, got {value!r}")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.get(key)
        if not isinstance(value, dict):
            self.fail(f"'{self.prefix}{key}' must be a JSON object, got {value!r}")
        return value
