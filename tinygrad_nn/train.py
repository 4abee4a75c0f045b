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

The output layer and the loss go together: ``cross-entropy`` puts a softmax
(inside the loss) on raw scores; ``sse`` and ``mse`` use sigmoid outputs
against one-hot targets for classification (the classic networks) and a
linear output for regression. Classification reports accuracy, regression
the RMSE and R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)².
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import data, nn, optim
from .checkpoint import atomic_write_bytes
from .data import Task
from .grad_mode import no_grad
from .value import Value

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "build_model",
    "default_epochs",
    "default_lr",
    "parse_hidden",
    "train",
]

ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu")
LOSSES: tuple[str, ...] = ("sse", "mse", "cross-entropy")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")

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

# Environment variable that forces a progress style: "bar", "plain" or "none".
PROGRESS_ENV = "TINYGRAD_NN_PROGRESS"


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
    initialization; sigmoid and tanh layers Xavier's.
    """
    if activation not in ACTIVATIONS:
        raise TrainConfigError(
            f"build_model: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
        )
    gen = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    act: Callable[[], nn.Module] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    init = "kaiming_uniform" if activation == "relu" else "xavier_uniform"
    layers: list[nn.Module] = []
    width = n_inputs
    for h in hidden:
        layers += [nn.Dense(width, h, init=init, rng=gen), act()]
        width = h
    layers.append(nn.Dense(width, n_outputs, rng=gen))
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    elif output is not None:
        raise TrainConfigError(f"build_model: output must be None or 'sigmoid', got {output!r}")
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------
# Output directory
# ---------------------------------------------------------------------------


def _prepare_out(out: Path) -> Path:
    """Create ``out`` (with parents) and make sure files can be written there, before training."""
    if out.exists() and not out.is_dir():
        raise TrainConfigError(f"--out: {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TrainConfigError(f"--out: cannot write to {str(out)!r} ({reason})") from None
    return out


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------


class _Progress:
    """Progress over epochs: a tqdm bar, plain lines, or nothing."""

    def __init__(self, mode: str, epochs: int, stream: TextIO, desc: str) -> None:
        self.mode, self.epochs, self.stream = mode, epochs, stream
        self.every = max(1, epochs // 10)
        self.bar: Any = None
        if mode == "bar":
            # Imported by name: tqdm is optional and ships no type stubs.
            tqdm = importlib.import_module("tqdm").tqdm
            self.bar = tqdm(
                total=epochs, desc=desc, unit="epoch", file=stream, leave=True, dynamic_ncols=True
            )

    def batch(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4g}", refresh=False)

    def epoch(self, row: dict[str, float], text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.mode == "plain":
            e = int(row["epoch"])
            if e % self.every == 0 or e == self.epochs or e == 1:
                width = len(str(self.epochs))
                print(f"epoch {e:>{width}}/{self.epochs}  {text}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_mode(quiet: bool, stream: TextIO) -> str:
    if quiet:
        return "none"
    forced = os.environ.get(PROGRESS_ENV, "").strip().lower()
    try:
        importlib.import_module("tqdm")
    except ImportError:
        has_tqdm = False
    else:
        has_tqdm = True
    if forced in ("none", "plain"):
        return forced
    if forced == "bar":
        return "bar" if has_tqdm else "plain"
    is_tty = getattr(stream, "isatty", lambda: False)()
    return "bar" if has_tqdm and is_tty else "plain"


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def _predict(model: nn.Module, X: np.ndarray) -> np.ndarray:
    with no_grad():
        out = model(X)
    return np.asarray(out.data)


def _metrics(task: Task, model: nn.Module, X: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    out = _predict(model, X)
    if task.is_classification:
        return {f"{prefix}_accuracy": float(np.mean(out.argmax(axis=1) == y))}
    resid = y - out
    ss_res = float(np.sum(resid * resid))
    centered = y - y.mean(axis=0)
    ss_tot = float(np.sum(centered * centered))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return {f"{prefix}_rmse": math.sqrt(ss_res / y.size), f"{prefix}_r2": r2}


def _describe(row: dict[str, float], task: Task) -> str:
    parts = [f"loss {row['loss']:.4g}"]
    if task.is_classification:
        parts.append(f"train acc {100 * row['train_accuracy']:.1f}%")
        parts.append(f"test acc {100 * row['test_accuracy']:.1f}%")
    else:
        parts.append(f"train RMSE {row['train_rmse']:.4g}")
        parts.append(f"test RMSE {row['test_rmse']:.4g}")
    return "  ".join(parts)


def _layer_text(activation: str | None, output: str | None) -> str:
    """The header's `` (tanh, sigmoid outputs)``: only the activations the model has."""
    parts = ([activation] if activation else []) + (["sigmoid outputs"] if output else [])
    return f" ({', '.join(parts)})" if parts else ""


def _loss_fn(task: Task, loss: str) -> Callable[[Value, np.ndarray], Value]:
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


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _write_csv(path: Path, history: list[dict[str, float]]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    for row in history:
        writer.writerow({k: (int(v) if k == "epoch" else f"{v:.6g}") for k, v in row.items()})
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def _json_config(config: TrainConfig) -> dict[str, Any]:
    d = dataclasses.asdict(config)
    d["hidden"] = list(config.hidden)
    d["out"] = os.fspath(config.out) if config.out is not None else None
    return d


def _plot(path: Path, history: list[dict[str, float]], task: Task, title: str) -> bool:
    """Write the loss curve (and the metric per epoch) as a PNG; False when matplotlib is missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")  # files only, no window
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [row["loss"] for row in history], color="tab:blue")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (mean per example)")
    ax_loss.set_yscale("log")
    ax_loss.grid(alpha=0.3)
    key, label = ("accuracy", "accuracy") if task.is_classification else ("rmse", "RMSE")
    ax_metric.plot(epochs, [row[f"train_{key}"] for row in history], label="train")
    ax_metric.plot(epochs, [row[f"test_{key}"] for row in history], label="test")
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel(label)
    ax_metric.grid(alpha=0.3)
    ax_metric.legend()
    fig.suptitle(title)
    fig.tight_layout()
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=100)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, png.getvalue())
    return True


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


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

    files = {
        "checkpoint": out_dir / "model.npz",
        "csv": out_dir / "metrics.csv",
        "json": out_dir / "metrics.json",
    }
    model.save(files["checkpoint"])
    _write_csv(files["csv"], history)
    final = history[-1]
    summary = {
        "config": _json_config(cfg),
        "task": str(task),
        "final": final,
        "seconds": seconds,
        "standardization": {"mean": stats.mean.tolist(), "std": stats.std.tolist()},
        "layers": repr(model),
    }
    atomic_write_bytes(files["json"], (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    plot = out_dir / "loss.png"
    if _plot(plot, history, task, f"{cfg.dataset}: {sizes}{layers}, {cfg.loss}, {cfg.optimizer}"):
        files["plot"] = plot

    if task.is_classification:
        line = (
            f"final: train accuracy {100 * final['train_accuracy']:.1f}%, "
            f"test accuracy {100 * final['test_accuracy']:.1f}% (loss {final['loss']:.4g}, {seconds:.1f} s)"
        )
    else:
        line = (
            f"final: train RMSE {final['train_rmse']:.4g} (R² {final['train_r2']:.4f}), "
            f"test RMSE {final['test_rmse']:.4g} (R² {final['test_r2']:.4f}) "
            f"(loss {final['loss']:.4g}, {seconds:.1f} s)"
        )
    print(line, file=out_stream)
    print(f"saved checkpoint to {files['checkpoint']}", file=out_stream)
    extras = [str(files["csv"]), str(files["json"])] + ([str(files["plot"])] if "plot" in files else [])
    print(f"metrics: {', '.join(extras)}", file=out_stream)
    return TrainResult(cfg, task, model, history, final, stats, files, seconds)
