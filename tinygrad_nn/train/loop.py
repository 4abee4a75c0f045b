"""The training run: :func:`train` builds the model with :func:`build_model` and fits it."""

from __future__ import annotations

import math
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import data, nn, optim
from ..data import Task
from ..value import Value
from . import rundir
from .config import ACTIVATIONS, TrainConfig, TrainConfigError
from .reporting import (
    _describe,
    _json_config,
    _layer_text,
    _metrics,
    _print_final,
    _Progress,
    _progress_mode,
    _write_files,
)
from .run import RunMetadata

__all__ = ["TrainInterrupted", "TrainResult", "build_model", "train"]


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, the per-epoch history and the files written."""

    config: TrainConfig
    task: Task
    model: nn.Sequential
    history: list[dict[str, float]]
    final: dict[str, float]
    standardization: data.Standardization
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    metadata: RunMetadata | None = None


class TrainInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C; ``str()`` is one line saying what was saved.

    Attributes:
        completed: the epochs completed (0: nothing was saved).
        epochs: the epochs asked for.
        saved: the run directory written, as of epoch ``completed``; None when nothing was saved.
        out: the run directory (``--out``).

    A subclass of :class:`KeyboardInterrupt`, so a program that does not catch
    it stops as on any Ctrl-C.
    """

    def __init__(self, completed: int, epochs: int, saved: Path | None, out: Path) -> None:
        self.completed, self.epochs, self.saved, self.out = completed, epochs, saved, out
        if saved is None:
            kept = "keeps the previous run" if out.exists() else "was not created"
            text = f"interrupted in epoch 1/{epochs}: no epoch completed, nothing saved ({out} {kept})"
        elif completed < epochs:
            text = f"interrupted in epoch {completed + 1}/{epochs}: saved the run as of epoch {completed}"
            text += f" to {out}"
        else:
            text = f"interrupted while saving: the complete run ({epochs}/{epochs} epochs) was saved to {out}"
        super().__init__(text)


def build_model(
    n_inputs: int,
    n_outputs: int,
    hidden: Sequence[int] = (10,),
    activation: str = "tanh",
    output: str | None = None,
    rng: np.random.Generator | int | None = 0,
) -> nn.Sequential:
    """``Dense(n_inputs -> h1), act, …, Dense(h_last -> n_outputs)[, output activation]``.

    ``output`` is None (raw scores: logits for cross-entropy, a linear
    output for regression) or ``"sigmoid"``. ReLU layers get Kaiming
    initialization; sigmoid and tanh layers Xavier's (see :func:`tinygrad_nn.nn.mlp`).
    """
    if activation not in ACTIVATIONS:
        raise TrainConfigError(
            f"build_model: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
        )
    if output not in (None, "sigmoid"):
        raise TrainConfigError(f"build_model: output must be None or 'sigmoid', got {output!r}")
    return nn.mlp([n_inputs, *hidden, n_outputs], activation, output, rng=rng)


def _loss_fn(task: Task, loss: str) -> Callable[[Value, np.ndarray], Value]:
    """The loss of a batch's output against its labels (one-hot for a classification with sse or mse)."""
    if loss == "cross-entropy":
        return lambda out, yb: nn.cross_entropy(out, yb)
    to_target: Callable[[np.ndarray], np.ndarray]
    if task.is_classification:
        n_classes = task.num_outputs
        to_target = lambda yb: data.one_hot(yb, n_classes)
    else:
        to_target = lambda yb: yb
    if loss == "sse":
        return lambda out, yb: nn.sse_loss(out, to_target(yb))
    return lambda out, yb: nn.mse_loss(out, to_target(yb))


def train(
    config: TrainConfig | None = None,
    *,
    quiet: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> TrainResult:
    """Train a network as ``config`` says, report on ``stdout``/``stderr``, write the run's files.

    Progress goes to ``stderr`` (a tqdm bar when tqdm is installed and
    ``stderr`` is a terminal, plain lines otherwise; set the environment
    variable ``TINYGRAD_NN_PROGRESS`` to ``bar``, ``plain`` or ``none`` to
    choose); ``quiet=True`` turns it off. The summary goes to ``stdout``.
    Invalid options raise :class:`TrainConfigError` before any training.

    The run's directory is replaced as a whole (see
    :mod:`~tinygrad_nn.train.rundir`). A Ctrl-C (KeyboardInterrupt) during
    training saves the run as of the last completed epoch, marked as
    interrupted, and raises :class:`TrainInterrupted`; before the first epoch
    completes it saves nothing.
    """
    out_stream = sys.stdout if stdout is None else stdout
    err_stream = sys.stderr if stderr is None else stderr
    cfg = (config or TrainConfig()).resolved()
    X, y, task = data.load(cfg.dataset, rng=cfg.seed)
    cfg = cfg.resolved(task)
    assert cfg.out is not None and cfg.epochs is not None and cfg.lr is not None and cfg.loss is not None
    out = Path(cfg.out)
    target = rundir.prepare(out)
    fit = _Fit()
    start = time.perf_counter()
    try:
        _fit(cfg, task, X, y, fit, quiet, out_stream, err_stream)
    except KeyboardInterrupt:
        if fit.snapshot is None:
            raise TrainInterrupted(0, cfg.epochs, None, out) from None
        fit.interrupted = True
    seconds = time.perf_counter() - start
    # From here until the new run is in place and reported, a Ctrl-C waits: it would leave the
    # run half-saved, or saved but reported as lost.
    with rundir.sigint_deferred() as held:
        metadata, history, names = _save(cfg, task, fit, seconds, target)
        files = {kind: out / name for kind, name in names.items()}
        final = history[-1]
        if not fit.interrupted:
            _print_final(task, final, seconds, files, out_stream)
    if fit.interrupted or held:
        raise TrainInterrupted(metadata.epochs_completed, metadata.epochs, out, out)
    assert fit.model is not None
    stats = metadata.standardization
    return TrainResult(cfg, task, fit.model, history, final, stats, files, seconds, metadata)


def _save(
    cfg: TrainConfig, task: Task, fit: _Fit, seconds: float, target: Path
) -> tuple[RunMetadata, list[dict[str, float]], dict[str, str]]:
    """Write the run as of its last completed epoch beside ``target``, then swap it into place."""
    assert fit.snapshot is not None and fit.model is not None and fit.stats is not None
    assert cfg.epochs is not None and cfg.loss is not None
    completed, state = fit.snapshot
    # The last epoch may have been cut short part-way through a step: go back to where it began.
    fit.model.load_state_dict(state)
    history = fit.history[:completed]
    metadata = RunMetadata(
        run_id=uuid.uuid4().hex,
        dataset=cfg.dataset,
        task=task,
        class_names=_class_names(cfg.dataset, task),
        layers=fit.sizes,
        activation=cfg.activation,
        output=fit.output,
        loss=cfg.loss,
        standardization=fit.stats,
        epochs=cfg.epochs,
        epochs_completed=completed,
        interrupted=fit.interrupted,
        config={k: v for k, v in _json_config(cfg).items() if k != "out"},
    )
    summary = {
        "config": _json_config(cfg),
        "task": str(task),
        "final": history[-1],
        "seconds": seconds,
        "standardization": {"mean": fit.stats.mean.tolist(), "std": fit.stats.std.tolist()},
        "layers": repr(fit.model),
        "run_id": metadata.run_id,
        "epochs_completed": completed,
        "interrupted": fit.interrupted,
    }
    staging = rundir.new_staging(target)
    try:
        names = _write_files(staging, fit.model, metadata, history, summary, fit.title)
        rundir.swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metadata, history, names


@dataclass
class _Fit:
    """What the training loop has got to, kept where an interrupt can still read it."""

    model: nn.Sequential | None = None
    stats: data.Standardization | None = None
    sizes: tuple[int, ...] = ()
    output: str | None = None
    title: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    # (epochs completed, a copy of the weights then), replaced in one assignment after each epoch.
    snapshot: tuple[int, dict[str, np.ndarray]] | None = None
    interrupted: bool = False


def _fit(
    cfg: TrainConfig,
    task: Task,
    X: np.ndarray,
    y: np.ndarray,
    fit: _Fit,
    quiet: bool,
    out_stream: TextIO,
    err_stream: TextIO,
) -> None:
    """Split, standardize, build the model and train it, recording progress in ``fit``."""
    assert cfg.epochs is not None and cfg.lr is not None and cfg.loss is not None
    X_tr, X_te, y_tr, y_te = data.train_test_split(
        X, y, test_size=cfg.test_size, rng=cfg.seed, stratify=task.is_classification
    )
    X_tr, X_te, fit.stats = data.standardize(X_tr, X_te)
    gen = np.random.default_rng(cfg.seed)
    output = fit.output = "sigmoid" if task.is_classification and cfg.loss != "cross-entropy" else None
    model = fit.model = build_model(X_tr.shape[1], task.num_outputs, cfg.hidden, cfg.activation, output, gen)
    opt: optim.Optimizer = (
        optim.Adam(model, lr=cfg.lr) if cfg.optimizer == "adam" else optim.SGD(model, lr=cfg.lr)
    )
    loss_fn = _loss_fn(task, cfg.loss)
    per_batch_sum = cfg.loss == "sse"

    fit.sizes = (X_tr.shape[1], *cfg.hidden, task.num_outputs)
    sizes = "-".join(str(n) for n in fit.sizes)
    layers = _layer_text(cfg.activation if cfg.hidden else None, output)
    fit.title = f"{cfg.dataset}: {sizes}{layers}, {cfg.loss}, {cfg.optimizer}"
    header = (
        f"{cfg.dataset} ({task}): {len(X_tr)} train / {len(X_te)} test samples; "
        f"model {sizes}{layers}, "
        f"{cfg.loss} loss, {cfg.optimizer} lr {cfg.lr:g}, {cfg.epochs} epochs, batch {cfg.batch_size}"
    )
    print(header, file=out_stream, flush=True)
    progress = _Progress(_progress_mode(quiet, err_stream), cfg.epochs, err_stream, cfg.dataset)
    try:
        # A too-large learning rate overflows to inf/nan: the check below reports it
        # as one error instead of a stream of numpy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(1, cfg.epochs + 1):
                total, count = 0.0, 0
                for xb, yb in data.batches(X_tr, y_tr, cfg.batch_size, rng=gen):
                    opt.zero_grad()
                    loss = loss_fn(model(xb), yb)
                    loss.backward()
                    opt.step()
                    value = loss.item()
                    if not math.isfinite(value):
                        raise FloatingPointError(
                            f"the loss became {value} at epoch {epoch}: training diverged; "
                            f"lower the learning rate (now {cfg.lr:g})"
                        )
                    # Every loss is reported per example: sse already sums over the batch,
                    # mse and cross-entropy average over it.
                    total += value if per_batch_sum else value * len(xb)
                    count += len(xb)
                    progress.batch(value / len(xb) if per_batch_sum else value)
                row = {"epoch": float(epoch), "loss": total / count}
                row.update(_metrics(task, model, X_tr, y_tr, "train"))
                row.update(_metrics(task, model, X_te, y_te, "test"))
                fit.history.append(row)
                fit.snapshot = (epoch, model.state_dict())
                progress.epoch(row, _describe(row, task))
    finally:
        progress.close()


def _class_names(dataset: str, task: Task) -> tuple[str, ...] | None:
    """The bundled data sets' class names; the generated ones' classes are named by their labels."""
    if task.num_classes is None:
        return None
    bundled = {"iris": data.load_iris, "digits": data.load_digits}
    if dataset in bundled:
        return bundled[dataset]().target_names
    return tuple(str(k) for k in range(task.num_classes))
