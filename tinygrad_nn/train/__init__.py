"""Training a small network on a bundled or generated data set: what ``tinygrad-nn train`` runs.

:func:`train` loads the data set, splits it (seeded, stratified for
classification), standardizes the features with the training statistics,
builds a :class:`~tinygrad_nn.nn.Sequential` of Dense layers, and runs
mini-batch training with a seeded shuffling batch iterator. It reports
progress (a tqdm bar with the live loss when tqdm is installed and stderr is
a terminal, otherwise a plain line every tenth of the run), evaluates after
every epoch, and writes to the output directory:

* ``model.npz``: the checkpoint, carrying in the same file its
  :class:`RunMetadata` (layers, activations, standardization, task and class
  names, data set, epochs completed); :func:`load_run` reads the model back;
* ``metrics.csv``: one row per epoch;
* ``metrics.json``: the configuration, final metrics, the feature
  standardization, and the SHA-256 of the run's other files;
* ``loss.png``: the loss curve and the metric per epoch, when matplotlib is
  installed.

The directory is replaced as one unit (:mod:`~tinygrad_nn.train.rundir`): it
holds the complete previous run or the complete new one, whenever the writer
is stopped. A Ctrl-C saves the run as of the last completed epoch and raises
:class:`TrainInterrupted`.

The package: :mod:`~tinygrad_nn.train.config` holds the options and their
defaults, :mod:`~tinygrad_nn.train.loop` the run itself and the model it
builds, :mod:`~tinygrad_nn.train.reporting` the progress display, the metrics
and the files, :mod:`~tinygrad_nn.train.run` the checkpoint's metadata and
:func:`load_run`, :mod:`~tinygrad_nn.train.rundir` the directory's replacement.

The output layer and the loss go together: ``cross-entropy`` puts a softmax
(inside the loss) on raw scores; ``sse`` and ``mse`` use sigmoid outputs
against one-hot targets for classification (the classic networks) and a
linear output for regression. Classification reports accuracy, regression
the RMSE and R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)².
"""

from .config import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    TrainConfig,
    TrainConfigError,
    default_epochs,
    default_lr,
    parse_hidden,
)
from .loop import TrainInterrupted, TrainResult, build_model, train
from .reporting import PROGRESS_ENV
from .run import FORMAT_VERSION, LoadedRun, RunMetadata, load_run

__all__ = [
    "ACTIVATIONS",
    "FORMAT_VERSION",
    "LOSSES",
    "OPTIMIZERS",
    "PROGRESS_ENV",
    "LoadedRun",
    "RunMetadata",
    "TrainConfig",
    "TrainConfigError",
    "TrainInterrupted",
    "TrainResult",
    "build_model",
    "default_epochs",
    "default_lr",
    "load_run",
    "parse_hidden",
    "train",
]
