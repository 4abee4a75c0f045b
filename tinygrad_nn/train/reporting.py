"""What a training run shows and leaves behind: progress, metrics, and its files.

Progress is a tqdm bar with the live loss when tqdm is installed and the
stream is a terminal, otherwise a plain line every tenth of the run (the
environment variable ``TINYGRAD_NN_PROGRESS`` forces ``bar``, ``plain`` or
``none``). Classification reports accuracy, regression the RMSE and
R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)². The files (checkpoint, ``metrics.csv``,
``loss.png``, then ``metrics.json`` with the others' SHA-256) are written
into the new run's directory, which :mod:`~tinygrad_nn.train.rundir` then
puts in place.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import nn
from ..checkpoint import atomic_write_bytes
from ..data import Task
from ..grad_mode import no_grad
from .config import TrainConfig
from .run import RunMetadata, save_run_checkpoint

__all__ = ["PROGRESS_ENV"]

PROGRESS_ENV = "TINYGRAD_NN_PROGRESS"
"""Environment variable that forces a progress style: ``bar``, ``plain`` or ``none``."""


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


def _write_files(
    out_dir: Path,
    model: nn.Module,
    metadata: RunMetadata,
    history: list[dict[str, float]],
    summary: dict[str, Any],
    title: str,
) -> dict[str, str]:
    """Write the run's files into ``out_dir``; returns their names by kind: checkpoint, csv, json (and plot).

    ``metrics.json`` comes last and records the SHA-256 of the others, so a
    reader can check that the files belong together.
    """
    names = {"checkpoint": "model.npz", "csv": "metrics.csv"}
    save_run_checkpoint(out_dir / names["checkpoint"], model, metadata)
    _write_csv(out_dir / names["csv"], history)
    if _plot(out_dir / "loss.png", history, metadata.task, title):
        names["plot"] = "loss.png"
    digests = {name: _sha256(out_dir / name) for name in names.values()}
    names["json"] = "metrics.json"
    text = json.dumps({**summary, "sha256": digests}, indent=2) + "\n"
    atomic_write_bytes(out_dir / names["json"], text.encode("utf-8"))
    return names


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _print_final(
    task: Task, final: dict[str, float], seconds: float, files: dict[str, Path], stream: TextIO
) -> None:
    """The closing lines: the final metrics and where the files went."""
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
    print(line, file=stream)
    print(f"saved checkpoint to {files['checkpoint']}", file=stream)
    extras = [str(files["csv"]), str(files["json"])] + ([str(files["plot"])] if "plot" in files else [])
    print(f"metrics: {', '.join(extras)}", file=stream)
