"""Training a small network on a bundled or generated data set: what ``tinygrad-nn train`` runs.

:func:`train` loads the data set, splits it (seeded, stratified for
classification), standardizes the features with the training statistics,
builds a :class:`~tinygrad_nn.nn.Sequential` of Dense layers, and runs
mini-batch training with a seeded shuffling batch iterator. It reports
progress (a tqdm bar with the live loss when tqdm is installed and stderr is
a terminal, otherwise a plain line every tenth of the run), evaluates after
every epoch, and writes to the output directory:

* ``model.npz``: the checkpoint (:meth:`~tinygrad_nn.nn.Module.save`);
* ``metrics.csv``: one row per epoch;
* ``metrics.json``: the configuration, final metrics and the feature
  standardization (needed to use the model on new data);
* ``loss.png``: the loss curve and the metric per epoch, when matplotlib is
  installed.

The package: :mod:`~tinygrad_nn.train.config` holds the options and their
defaults, :mod:`~tinygrad_nn.train.loop` the run itself and the model it
builds, :mod:`~tinygrad_nn.train.reporting` the progress display, the metrics
and the files.

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
from .loop import TrainResult, build_model, train
from .reporting import PROGRESS_ENV

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "PROGRESS_ENV",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "build_model",
    "default_epochs",
    "default_lr",
    "parse_hidden",
    "train",
]
