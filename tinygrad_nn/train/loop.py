"""The training run: :func:`train` builds the model with :func:`build_model` and fits it."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import data, nn, optim
from ..data import Task
from ..value import Value
from .config import ACTIVATIONS, TrainConfig, TrainConfigError
from .reporting import (
    _describe,
    _json_config,
    _layer_text,
    _metrics,
    _prepare_out,
    _print_final,
    _Progress,
    _progress_mode,
    _write_files,
)

__all__ = ["TrainResult", "build_model", "train"]


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
    """
    out_stream = sys.stdout if stdout is None else stdout
    err_stream = sys.stderr if stderr is None else stderr
    cfg = (config or TrainConfig()).resolved()
    X, y, task = data.load(cfg.dataset, rng=cfg.seed)
    cfg = cfg.resolved(task)
    assert cfg.out is not None and cfg.epochs is not None and cfg.lr is not None and cfg.loss is not None
    out_dir = _prepare_out(Path(cfg.out))

    X_tr, X_te, y_tr, y_te = data.train_test_split(
        X, y, test_size=cfg.test_size, rng=cfg.seed, stratify=task.is_classification
    )
    X_tr, X_te, stats = data.standardize(X_tr, X_te)
    gen = np.random.default_rng(cfg.seed)
    output = "sigmoid" if task.is_classification and cfg.loss != "cross-entropy" else None
    model = build_model(X_tr.shape[1], task.num_outputs, cfg.hidden, cfg.activation, output, gen)
    opt: optim.Optimizer = (
        optim.Adam(model, lr=cfg.lr) if cfg.optimizer == "adam" else optim.SGD(model, lr=cfg.lr)
    )
    loss_fn = _loss_fn(task, cfg.loss)
    per_batch_sum = cfg.loss == "sse"

    sizes = "-".join(str(n) for n in (X_tr.shape[1], *cfg.hidden, task.num_outputs))
    layers = _layer_text(cfg.activation if cfg.hidden else None, output)
    header = (
        f"{cfg.dataset} ({task}): {len(X_tr)} train / {len(X_te)} test samples; "
        f"model {sizes}{layers}, "
        f"{cfg.loss} loss, {cfg.optimizer} lr {cfg.lr:g}, {cfg.epochs} epochs, batch {cfg.batch_size}"
    )
    print(header, file=out_stream, flush=True)
    progress = _Progress(_progress_mode(quiet, err_stream), cfg.epochs, err_stream, cfg.dataset)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
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
                history.append(row)
                progress.epoch(row, _describe(row, task))
    finally:
        progress.close()
    seconds = time.perf_counter() - start

    final = history[-1]
    summary = {
        "config": _json_config(cfg),
        "task": str(task),
        "final": final,
        "seconds": seconds,
        "standardization": {"mean": stats.mean.tolist(), "std": stats.std.tolist()},
        "layers": repr(model),
    }
    title = f"{cfg.dataset}: {sizes}{layers}, {cfg.loss}, {cfg.optimizer}"
    files = _write_files(out_dir, model, history, summary, task, title)
    _print_final(task, final, seconds, files, out_stream)
    return TrainResult(cfg, task, model, history, final, stats, files, seconds)
