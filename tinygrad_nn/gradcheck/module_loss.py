"""E(θ) = loss_fn(model(x), t) for one parameter θ of a model, one copy of θ or a batch of them.

:func:`~tinygrad_nn.gradcheck.gradcheck_module` perturbs each parameter in
turn. Looping, it calls the model once per perturbed element; batching, it
sets the parameter's data to a stack of perturbed copies so that one
forward pass evaluates them all (see :meth:`_ModuleLoss.batch`). A
:class:`_Plan` says how to run such a pass; the probe of
:mod:`tinygrad_nn.gradcheck.batched` decides whether to trust it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..value import Value
from .batched import _agrees, _fd_batched, _NotBatchable, _probe_copies
from .check import _output_data

# Most elements in the largest per-copy array of one batched call (copies
# times that array's size). 256 KiB of float64 stays in a core's cache: on
# the iris network such batches run about 3x faster per copy than a single
# batch of all the copies, whose activations spill out of it.
_MODULE_BATCH_ELEMENTS = 1 << 15


def _bind(w: np.ndarray) -> Any:
    """A parameter's ``.data`` for the float64 array ``w`` (the engine keeps 0-d float64 as a float)."""
    return float(w) if w.ndim == 0 else w


def _with_batch_axis(x: Any, n: int) -> Any:
    """``x`` repeated ``n`` times along a new leading axis (a read-only view); None if x is not numeric."""
    if isinstance(x, Value):
        v = x.detach()
        v.data = np.broadcast_to(x.data, (n, *x.shape))
        return v
    if x is None or isinstance(x, (str, bytes)):
        return None
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return np.broadcast_to(arr, (n, *arr.shape))


def _size(x: Any) -> int:
    """Elements of a layer's output (1 for anything that is not an array)."""
    if isinstance(x, Value):
        return x.size
    return x.size if isinstance(x, np.ndarray) else 1


def _squares_scale(loss_fn: Any) -> Callable[[int], float] | None:
    """For the library's squared-error losses (default reduction), E = scale(size) · Σ (O − t)²."""
    from ..nn import losses  # not at the top: gradcheck must not need nn to be importable

    if loss_fn is losses.sse_loss:
        return lambda size: 0.5
    if loss_fn is losses.mse_loss:
        return lambda size: 1.0 / size
    return None


@dataclass(frozen=True)
class _Plan:
    """How to evaluate E for a batch of copies of one parameter.

    ``layers`` run in turn on ``inp`` (the model itself, or the layers of a
    Sequential from the first one that holds the parameter on, fed that
    layer's input); ``batch_input`` gives ``inp`` the leading batch axis.
    ``lift`` 1-axes go between the batch axis and the parameter's own.
    ``squares`` computes a squared-error loss for all rows at once instead
    of calling it per row.
    """

    layers: tuple[Callable[[Any], Any], ...]
    inp: Any
    batch_input: bool
    lift: int
    squares: bool
    per_copy: int  # elements of the largest array one copy makes (an estimate)


class _ModuleLoss:
    """E = loss_fn(model(x), t) with the parameters as they are, single or batched."""

    def __init__(self, model: Any, loss_fn: Callable[[Any, Any], Value], x: Any, t: Any) -> None:
        self.model, self.loss_fn, self.x, self.t = model, loss_fn, x, t
        self.out_shape: tuple[int, ...] | None = None  # the model output's shape, if it is a Value
        self.out_type = ""
        self._scale = _squares_scale(loss_fn)
        self._targets: dict[np.dtype[Any], np.ndarray | None] = {}
        self._layers: list[Any] | None = None
        self._owner: dict[int, int] = {}
        self._outputs: list[Any] | None = None

    def loss_of(self, out: Any) -> Value:
        e = self.loss_fn(out, self.t)
        if not isinstance(e, Value) or e.size != 1:
            got = f"shape {e.shape}" if isinstance(e, Value) else type(e).__name__
            raise ValueError(f"gradcheck_module: loss_fn must return a single-element Value, got {got}")
        return e

    def single(self) -> np.ndarray:
        with no_grad():
            return _output_data(self.loss_of(self.model(self.x)), "gradcheck_module")

    # -- batched evaluation -------------------------------------------------------
    def plans(self, p: Any, w: np.ndarray) -> list[_Plan]:
        """Ways to batch ``p``, the likeliest first (none if the model does not return a Value)."""
        if self.out_shape is None:
            return []
        if self._outputs is None:
            self._outputs = self._layer_outputs()
        if self._layers is not None:
            start = self._owner.get(id(p), 0)
            layers: tuple[Callable[[Any], Any], ...] = tuple(self._layers[start:])
            inp = self._outputs[start]
            per_copy = max(_size(h) for h in self._outputs[start + 1 :])
        else:
            layers, inp = (self.model,), self.x
            per_copy = max(_size(self.x), int(np.prod(self.out_shape, dtype=np.int64)))
        lift = max(len(self.out_shape) - w.ndim, 0)
        per_copy = max(per_copy, w.size, 1)
        inputs = [True, False] if _with_batch_axis(inp, 1) is not None else [False]
        losses = [True, False] if self._scale is not None and self.out_shape else [False]
        return [_Plan(layers, inp, b, lift, sq, per_copy) for b in inputs for sq in losses]

    def _layer_outputs(self) -> list[Any]:
        """For a plain Sequential: x and every layer's output (at the unperturbed parameters)."""
        from ..nn import Sequential

        model = self.model
        if not (isinstance(model, Sequential) and type(model).__call__ is Sequential.__call__):
            return [self.x]
        self._layers = list(model.children())
        for i, layer in enumerate(self._layers):
            for q in layer.parameters():
                self._owner.setdefault(id(q), i)
        outputs = [self.x]
        with no_grad():
            for layer in self._layers:
                outputs.append(layer(outputs[-1]))
        return outputs

    def batch(self, p: Any, w: np.ndarray, rows: np.ndarray, plan: _Plan) -> np.ndarray:
        """E for each row of ``rows`` (copies of ``p``'s data), as an (n, 1) array; ``p`` is restored."""
        n = rows.shape[0]
        assert self.out_shape is not None
        want = (n, *self.out_shape)
        p.data = rows.reshape((n,) + (1,) * plan.lift + w.shape)
        try:
            with no_grad():
                h = _with_batch_axis(plan.inp, n) if plan.batch_input else plan.inp
                for layer in plan.layers:
                    h = layer(h)
                if not isinstance(h, Value) or h.shape != want:
                    got = h.shape if isinstance(h, Value) else type(h).__name__
                    raise _NotBatchable(
                        f"the model must map a batch of {n} copies (data of shape {p.data.shape}) "
                        f"to shape {want}, got {got}"
                    )
                if plan.squares:
                    return self._squares(h.data)
                return self._per_row(p, rows, h)
        finally:
            p.data = _bind(w)

    def _per_row(self, p: Any, rows: np.ndarray, h: Value) -> np.ndarray:
        """loss_fn on each row of the batched output ``h``, with ``p`` set to that row's copy."""
        data = h.data
        scalar = data.ndim == 1 and data.dtype == np.float64  # rows are Python floats
        piece = h.detach()  # a constant to copy per row, with the row's data
        values = np.empty((rows.shape[0], 1))
        for r in range(rows.shape[0]):
            p.data = _bind(rows[r])  # the loss may read the parameter too (a weight penalty)
            row = piece.detach()
            row.data = float(data[r]) if scalar else data[r, ...]  # a view, 0-d included
            values[r] = _output_data(self.loss_of(row), "gradcheck_module")
        return values

    def _squares(self, data: np.ndarray) -> np.ndarray:
        """scale · Σ (O − t)² per row, computed as the loss computes it for one row (so bit for bit)."""
        target = self._target(data.dtype)
        if target is None:
            raise _NotBatchable(f"the target does not fit the model output of shape {self.out_shape}")
        assert self._scale is not None
        scale = data.dtype.type(self._scale(target.size))
        d = data - target
        return np.array([[scale * np.vdot(row, row)] for row in d], dtype=np.float64)

    def _target(self, dtype: np.dtype[Any]) -> np.ndarray | None:
        if dtype not in self._targets:
            t = self.t.data if isinstance(self.t, Value) else self.t
            try:
                arr = np.asarray(t)
            except (TypeError, ValueError):
                arr = np.empty(0, dtype=object)
            ok = arr.dtype.kind in "biuf" and arr.shape == self.out_shape
            self._targets[dtype] = arr.astype(dtype) if ok else None
        return self._targets[dtype]

    def batched_differences(
        self,
        name: str,
        p: Any,
        w: np.ndarray,
        f0: np.ndarray,
        eps: float,
        method: str,
        vectorized: bool | None,
    ) -> np.ndarray | None:
        """Finite differences for ``p`` from batched calls, or None where the model does not batch.

        Unless ``vectorized`` is True, the first batched call of a plan also
        carries the three probe copies (see :func:`_probe_copies`), whose E
        must match single evaluations before any difference is trusted.
        """
        plans = self.plans(p, w)
        if not plans:
            if vectorized:
                raise TypeError(
                    f"gradcheck_module: vectorized=True needs a model that returns a Value, "
                    f"{type(self.model).__name__} returned {self.out_type} (checking {name!r})"
                )
            return None
        sides = 2 if method == "central" else 1
        if vectorized:
            plan = plans[0]
            batch = functools.partial(self.batch, p, w, plan=plan)
            try:
                return _fd_batched(
                    w, batch, f0, eps, method, _MODULE_BATCH_ELEMENTS // (sides * plan.per_copy)
                )
            except _NotBatchable as exc:
                raise _NotBatchable(
                    f"gradcheck_module: with vectorized=True, parameter {name!r}: {exc}"
                ) from None
        copies = _probe_copies(w)
        singles: list[np.ndarray] = []
        for plan in plans:
            probed = [False]

            def evaluate(rows: np.ndarray, plan: _Plan = plan, probed: list[bool] = probed) -> np.ndarray:
                if probed[0]:
                    return self.batch(p, w, rows, plan)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a warning, too, means "not this way"
                    got = self.batch(p, w, np.concatenate([np.stack(copies), rows]), plan)
                    if not singles:  # once a batch works, and once for all plans
                        singles.extend([f0, *(self._single_at(p, w, plan, c) for c in copies[1:])])
                if not _agrees(got[: len(copies)], singles):
                    raise _NotBatchable("batched and single evaluations differ")
                probed[0] = True
                return got[len(copies) :]

            try:
                return _fd_batched(
                    w, evaluate, f0, eps, method, _MODULE_BATCH_ELEMENTS // (sides * plan.per_copy)
                )
            except Exception:  # any failure means "not this way"
                if probed[0]:
                    return None  # the probe was fooled (its batch fit where a later one did not): loop
        return None

    def _single_at(self, p: Any, w: np.ndarray, plan: _Plan, data: np.ndarray) -> np.ndarray:
        """E with ``p`` set to ``data``, one forward pass of ``plan``'s layers (no batch)."""
        p.data = _bind(data)
        try:
            with no_grad():
                h = plan.inp
                for layer in plan.layers:
                    h = layer(h)
                return _output_data(self.loss_of(h), "gradcheck_module")
        finally:
            p.data = _bind(w)
