"""Loss functions: ``loss(prediction, target, reduction=...)`` -> a Value.

``prediction`` is a Value (or a constant array); ``target`` may be a plain
array, list or number, or a Value (then the loss is differentiable in it too).
Targets are cast to the prediction's dtype, so a float32 model gets a float32
loss. Prediction and target must have the same shape (no silent
broadcasting: an (N, 1) output against an (N,) target is an error, not an
(N, N) loss).

The leading axis is the batch axis. ``reduction`` is ``"mean"`` (the
default, as in PyTorch), ``"sum"`` or ``"none"`` (per-element losses, or
per-example for ``cross_entropy``), except for :func:`sse_loss`, which sums
by definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..coerce import numeric_array
from ..value import Value, apply
from .activations import as_value, softplus

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "mse_loss",
    "sse_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _prediction(name: str, x: Any) -> Value:
    return as_value(x, name)  # a Value always holds floats


def _target(name: str, t: Any, pred: Value) -> Value | np.ndarray:
    """The target as a Value or an ndarray in the prediction's dtype and shape."""
    pd = pred.data
    if type(t) is np.ndarray and type(pd) is np.ndarray and t.dtype is pd.dtype and t.shape == pd.shape:
        return t  # the usual case, checked in one go
    if isinstance(t, Value):
        if t.shape != pred.shape:
            raise ValueError(f"{name}: prediction has shape {pred.shape} but target has shape {t.shape}")
        return t if t.dtype == pred.dtype else t.astype(pred.dtype)
    arr = _numeric(name, t)
    if arr.shape != pred.shape:
        raise ValueError(f"{name}: prediction has shape {pred.shape} but target has shape {arr.shape}")
    return arr.astype(pred.dtype, copy=False)


def _numeric(name: str, t: Any) -> np.ndarray:
    return numeric_array(t, name, "target")


def _in_unit_interval(name: str, what: str, x: Any) -> None:
    d = np.asarray(x.data if isinstance(x, Value) else x)
    if d.size and not np.all((d >= 0) & (d <= 1)):  # nan fails too
        raise ValueError(
            f"{name}: {what} must lie in [0, 1], got values from {np.min(d)} to {np.max(d)}"
            + (" (nan included)" if np.isnan(d).any() else "")
        )


def _reduce(name: str, per: Value, reduction: str) -> Value:
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if per.size == 0:
        raise ValueError(f"{name}: the mean of an empty batch (shape {per.shape}) is undefined")
    return per.mean()


def sse_loss(prediction: Any, target: Any, reduction: str = "sum") -> Value:
    """E = ½ Σ (O − t)²: the error of the classic backprop derivations.

    ``reduction="sum"`` (the default) is E over every element. ``"mean"`` is
    ½ · (1/N) Σ_n Σ_k (O_nk − t_nk)², the mean over the N examples of the
    batch (leading axis; N = 1 for a 0-d prediction) of each example's E, so
    its gradient is the summed one divided by N. ``"none"`` gives the
    elementwise ½ (O − t)².
    """
    if reduction == "sum":  # the default first: a training loop's hot path
        pred = prediction if type(prediction) is Value else _prediction("sse_loss", prediction)
        return apply(ops.SQUARED_ERROR, pred, _target("sse_loss", target, pred), scale=0.5)
    _check_reduction("sse_loss", reduction)
    pred = _prediction("sse_loss", prediction)
    target = _target("sse_loss", target, pred)
    if reduction == "none":
        diff = pred - target
        return 0.5 * (diff * diff)
    n = pred.shape[0] if pred.ndim else 1
    if n == 0:
        raise ValueError(f"sse_loss: the mean of an empty batch (shape {pred.shape}) is undefined")
    return apply(ops.SQUARED_ERROR, pred, target, scale=0.5 / n)


def mse_loss(prediction: Any, target: Any, reduction: str = "mean") -> Value:
    """(O − t)², averaged over every element by default (PyTorch's ``mse_loss``)."""
    _check_reduction("mse_loss", reduction)
    pred = _prediction("mse_loss", prediction)
    target = _target("mse_loss", target, pred)
    if reduction == "none":
        diff = pred - target
        return diff * diff
    if reduction == "mean" and pred.size == 0:
        raise ValueError(f"mse_loss: the mean of an empty batch (shape {pred.shape}) is undefined")
    scale = 1.0 if reduction == "sum" else 1.0 / pred.size
    return apply(ops.SQUARED_ERROR, pred, target, scale=scale)


def binary_cross_entropy(prediction: Any, target: Any, reduction: str = "mean") -> Value:
    """−[t log p + (1 − t) log(1 − p)] for probabilities p and targets t in [0, 1].

    Each log is clamped at −100 (as PyTorch does), so p = 0 or 1 gives a large
    but finite loss; the gradient is PyTorch's (p − t) / max(p(1 − p), 1e-12),
    so a saturated wrong prediction still gets a gradient. For outputs of a sigmoid, prefer
    :func:`binary_cross_entropy_with_logits` on the logits: it is exact where
    the sigmoid has rounded to 0 or 1.
    """
    name = "binary_cross_entropy"
    _check_reduction(name, reduction)
    p = _prediction(name, prediction)
    t = _target(name, target, p)
    _in_unit_interval(name, "prediction (probabilities)", p)
    _in_unit_interval(name, "target", t)
    return _reduce(name, apply(ops.BINARY_CROSS_ENTROPY, p, t), reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Value:
    """Binary cross entropy of σ(x) against t in [0, 1], computed from the logits x.

    loss = −[t log σ(x) + (1 − t) log(1 − σ(x))] = softplus(x) − t·x, which is
    finite for any x; the gradient is exactly σ(x) − t (0.5 − t at x = 0).
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    x = _prediction(name, logits)
    t = _target(name, target, x)
    _in_unit_interval(name, "target", t)
    return _reduce(name, softplus(x) - x * t, reduction)


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Value:
    """Softmax cross entropy of logits (N, C) (or (C,) for one example).

    ``target`` is either integer class labels of shape (N,) (or ()), each in
    [0, C): loss_n = −log softmax(x_n)[y_n]; or class probabilities / one-hot
    rows of the logits' shape: loss_n = −Σ_c t_nc log softmax(x_n)_c.
    ``"mean"`` averages over the N examples; ``"none"`` returns loss_n.
    Computed with log_softmax, so it is stable for any logits.
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    x = _prediction(name, logits)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{name}: logits must have shape (N, C) or (C,) with C >= 1, got {x.shape}")
    classes = x.shape[-1]
    tshape = target.shape if isinstance(target, Value) else _numeric(name, target).shape
    logp = x.log_softmax(axis=-1)
    if tshape == x.shape:
        t = _target(name, target, x)
        per = -(logp * t).sum(axis=-1)
    elif tshape == x.shape[:-1]:
        labels = _numeric(name, target.data if isinstance(target, Value) else target)
        if labels.dtype.kind not in "iu":
            raise TypeError(
                f"{name}: class labels must be integers, got dtype {labels.dtype} "
                f"(for probability or one-hot targets pass shape {x.shape})"
            )
        bad = (labels < 0) | (labels >= classes)
        if bad.any():
            where_bad = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name}: label {int(labels[where_bad])} at position {where_bad} is out of range "
                f"for {classes} classes (labels must be in [0, {classes - 1}])"
            )
        per = -(logp[np.arange(x.shape[0]), labels] if x.ndim == 2 else logp[int(labels)])
    else:
        raise ValueError(
            f"{name}: target shape {tshape} fits neither integer labels {x.shape[:-1]} "
            f"nor class probabilities {x.shape} for logits of shape {x.shape}"
        )
    return _reduce(name, per, reduction)
