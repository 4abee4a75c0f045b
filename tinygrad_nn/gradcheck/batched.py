"""Vectorized finite differences: many perturbed copies of an input in one call.

The loop in :mod:`tinygrad_nn.gradcheck.check` calls the function once per
perturbed element. When the function accepts a leading batch axis, a stack
of perturbed copies gives the same columns of the Jacobian in a few calls.
Whether it does is not known in advance, so a *probe* compares one batched
call on three distinct copies with single calls before any batch is
trusted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

# Most perturbed copies of one input evaluated in a single batched call
# (in elements): bounds the memory of the batch, not its speed.
_MAX_BATCH_ELEMENTS = 1 << 20

# Most perturbed copies (rows) in one batched call of gradcheck. fn's
# intermediates, which grow with the batch, are unknown here; past a few
# hundred KiB they spill out of cache: on the iris network batches of 32
# copies run about twice as fast per copy as one batch of all 80.
_MAX_BATCH_ROWS = 32


class _NotBatchable(ValueError):
    """fn's result for a batch of inputs does not have the batch shape."""


def _fd_batched(
    w: np.ndarray,
    evaluate_batch: Callable[[np.ndarray], np.ndarray],
    f0: np.ndarray,
    eps: float,
    method: str,
    per_chunk: int | None = None,
) -> np.ndarray:
    """The columns of ``_fd_loop``, from batched calls: row r of the batch is one perturbed copy of ``w``.

    Each call gets at most ``per_chunk`` perturbed elements (by default as
    many as keep the batch within ``_MAX_BATCH_ELEMENTS`` and
    ``_MAX_BATCH_ROWS``).
    """
    flat = w.reshape(-1)
    k = flat.size
    sides = 2 if method == "central" else 1
    if per_chunk is None:
        per_chunk = min(_MAX_BATCH_ELEMENTS // max(k * sides, 1), _MAX_BATCH_ROWS // sides)
    per_chunk = max(1, per_chunk)
    cols = np.empty((f0.size, k))
    for start in range(0, k, per_chunk):
        idx = np.arange(start, min(start + per_chunk, k))
        rows = np.repeat(flat[None, :], sides * idx.size, axis=0)
        pos = np.arange(idx.size)
        rows[pos, idx] += eps
        if sides == 2:
            rows[idx.size + pos, idx] -= eps
        out = evaluate_batch(rows.reshape((rows.shape[0], *w.shape)))
        up = rows[pos, idx]
        f_up = out[: idx.size]
        if sides == 2:
            down = rows[idx.size + pos, idx]
            f_down = out[idx.size :]
        else:
            down, f_down = flat[idx], f0[None, :]
        cols[:, idx] = ((f_up - f_down) / (up - down)[:, None]).T
    return cols


def _probe_copies(w: np.ndarray) -> list[np.ndarray]:
    """``w`` and two distinct copies of it for a probe of batching.

    Each copy moves every element away from zero by 0.5-1% of max(|x|, 1):
    far more than ε, so a function that mixes the rows of a batch (a sum
    over all axes, a reversal of the leading axis) cannot match to 1e-9 by
    accident, while signs, and so domains such as x > 0, are kept.
    """
    away = np.where(w >= 0, 1.0, -1.0) * np.maximum(np.abs(w), 1.0)
    # Irregular factors in [0.5, 1) without the cost of a generator: the
    # fractional parts of k·α for two irrational α (Weyl sequences).
    k = np.arange(1.0, w.size + 1.0).reshape(w.shape)
    return [
        w,
        *(w + 0.01 * (0.5 + 0.5 * ((k * a) % 1.0)) * away for a in (0.6180339887498949, 0.4142135623730951)),
    ]


def _agrees(got: np.ndarray, want: Sequence[np.ndarray]) -> bool:
    """Batched results (one row per copy) equal single ones to 1e-9, all finite."""
    f = np.stack(want)
    g = np.asarray(got, dtype=np.float64)
    if g.size != f.size or not (np.isfinite(f).all() and np.isfinite(g).all()):
        return False
    g = g.reshape(f.shape)
    # Per copy: |g − f| <= 1e-9 |f| + 1e-12 max(|f|, 1), a copy's largest output setting the floor.
    scale = np.abs(f).max(axis=1, keepdims=True, initial=1.0)
    return bool(np.all(np.abs(g - f) <= 1e-9 * np.abs(f) + 1e-12 * scale))


def _batch_agrees(
    w: np.ndarray,
    evaluate_batch: Callable[[np.ndarray], np.ndarray],
    evaluate_one: Callable[[np.ndarray], np.ndarray],
    f0: np.ndarray,
) -> bool:
    """Does fn treat a leading axis on this input as a batch? Probe with three copies.

    A batched call on the copies of :func:`_probe_copies` must match single
    calls; any error, warning or non-finite output means "not batchable".
    """
    copies = _probe_copies(w)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = evaluate_batch(np.stack(copies))
            want = [f0, *(evaluate_one(c) for c in copies[1:])]
    except Exception:  # any failure just means "not batchable": fall back to the loop
        return False
    return _agrees(got, want)
