"""Optimizers: SGD (with momentum and Nesterov) and Adam, with PyTorch's update rules.

The arithmetic follows ``torch.optim.SGD`` and ``torch.optim.Adam`` (default
options, single parameter group) operation by operation, so a run can be
compared with PyTorch step by step. Updates happen in place on ``p.data``
(a scalar parameter's float is rebound); parameters whose ``.grad`` is None
are skipped and their state does not advance.

``state_dict()`` is a flat ``{name: ndarray}`` dict (hyperparameters as 0-d
arrays, per-parameter state as ``"state.<i>.<buffer>"``), so it can be saved
with :func:`tinygrad_nn.checkpoint.save_npz` and needs no pickle.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._fast.kernels import ndarray as _ndarray
from .checkpoint import CheckpointError
from .nn.module import Module
from .value import Value

__all__ = ["SGD", "Adam", "Optimizer"]


def _real(owner: str, name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(float(x)):
        raise ValueError(f"{owner}: {name} must be a finite number, got {x!r}")
    return float(x)


def _scalar(x: Any) -> Any:
    """A 0-d array (as stored in a state dict) as a Python scalar; anything else unchanged."""
    return x.item() if isinstance(x, np.ndarray) and x.shape == () else x


def _lerp(a: Any, b: Any, w: float) -> Any:
    # torch.lerp's two formulas: each is exact at its own end of [0, 1].
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1.0 - w)


# p -= scale * d runs in slices of this many elements, so its temporary stays
# small: a full-size scale * d was the largest allocation of a training step
# (the first layer's weights, while the graph and its gradients are still alive).
_SLICE = 1 << 16


def _sub_scaled(p: np.ndarray, scale: float, d: Any) -> None:
    """p -= scale * d in place, element for element the same arithmetic, with a
    temporary of at most ``_SLICE`` elements (512 KiB in float64)."""
    if type(d) is not _ndarray or d.shape != p.shape or not (p.flags.c_contiguous and d.flags.c_contiguous):
        p -= scale * d
        return
    flat_p, flat_d = p.reshape(-1), d.reshape(-1)  # views: both are contiguous
    for start in range(0, flat_p.size, _SLICE):
        flat_p[start : start + _SLICE] -= scale * flat_d[start : start + _SLICE]


class Optimizer:
    """Base class: holds the parameter list and the per-parameter state."""

    _buffers: tuple[str, ...] = ()  # names of the per-parameter state entries
    _hyper: tuple[str, ...] = ()  # names of the hyperparameters in state_dict

    def __init__(self, params: Iterable[Value] | Module) -> None:
        self.params: list[Value] = self._collect(params)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _collect(self, params: Any) -> list[Value]:
        if isinstance(params, Module):
            params = params.parameters()
        if isinstance(params, Value):
            raise TypeError(
                f"{self._name}: params must be an iterable of Values (e.g. model.parameters() or [w, b]), "
                "got a single Value"
            )
        try:
            items = list(params)
        except TypeError:
            raise TypeError(
                f"{self._name}: params must be an iterable of Values, got {type(params).__name__}"
            ) from None
        if not items:
            raise ValueError(f"{self._name}: got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(items):
            if not isinstance(p, Value):
                raise TypeError(f"{self._name}: params[{i}] is a {type(p).__name__}, not a Value")
            if not p.is_leaf:
                raise ValueError(
                    f"{self._name}: params[{i}] was computed by op {p.op!r}; "
                    "only leaf Values can be optimized"
                )
            if id(p) in seen:
                raise ValueError(f"{self._name}: params[{i}] appears more than once")
            seen.add(id(p))
        return items

    def zero_grad(self) -> None:
        """Clear every parameter's ``.grad`` (set it to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient: p ← p − Δ, in place.

        Every gradient is checked first, so a bad one changes nothing at all.
        A gradient of another dtype is cast to its parameter's (the state
        buffers keep the parameter's dtype).
        """
        params = self.params
        grads: list[Any] = []  # grads[i] for params[i], checked (None: no update)
        datas: list[Any] = []  # params[i].data where there is a gradient
        for p in params:
            g = data = p.grad
            if g is not None:
                data = p.data
                if not (type(g) is _ndarray and type(data) is _ndarray and g.shape == data.shape
                        and g.dtype is data.dtype and data.flags.writeable):  # fmt: skip
                    g = self._conform_grad(len(grads), g, data)  # anything but the usual case
            grads.append(g)
            datas.append(data)
        lr = self._plain_lr()
        i = -1
        for p in params:  # an index rather than zip() or tuples: small models notice either
            i += 1
            g = grads[i]
            if g is None:
                continue
            if lr is None:
                scale, direction = self._update(p, g, self.state[i])
            else:
                scale, direction = lr, g
            data = datas[i]
            if type(data) is float:
                p.data = float(data - scale * direction)
                continue
            if data.size <= _SLICE:  # _sub_scaled's one-slice case, without the call
                data -= scale * direction
            else:
                _sub_scaled(data, scale, direction)
            p.data = data  # the array changed in place: assigning it counts the change (versions.py)

    def _conform_grad(self, i: int, g: Any, data: Any) -> Any:
        """params[i]'s gradient as its data's type, shape and dtype (a float for a
        float), or an error naming the parameter."""
        if isinstance(g, Value):  # from backward(create_graph=True)
            g = g.data
        if type(data) is not float:
            # Checked before any parameter changes: a step that fails changes nothing.
            if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
                what = type(data).__name__ if not isinstance(data, np.ndarray) else f"dtype {data.dtype}"
                raise TypeError(f"{self._name}.step: params[{i}] holds {what}; it can only update float data")
            if not data.flags.writeable:
                raise ValueError(
                    f"{self._name}.step: params[{i}] (shape {data.shape}) holds a read-only array "
                    "(a broadcast view, or writeable=False); it cannot be updated in place"
                )
        if type(data) is float:
            if np.shape(g) != ():
                raise ValueError(
                    f"{self._name}.step: params[{i}] is a scalar but its grad has shape {np.shape(g)}"
                )
            return float(g)
        if getattr(g, "shape", None) != data.shape:
            raise ValueError(
                f"{self._name}.step: params[{i}] has shape {data.shape} but its grad has shape {np.shape(g)}"
            )
        return g if g.dtype == data.dtype else g.astype(data.dtype)

    def _update(self, p: Value, g: Any, state: dict[str, Any]) -> tuple[float, Any]:  # pragma: no cover
        """The step Δ for one parameter as (scale, direction), Δ = scale · direction
        (the caller applies p ← p − Δ in place, slice by slice)."""
        raise NotImplementedError

    def _plain_lr(self) -> float | None:
        """lr when every update is Δ = lr · g with no state (``_update`` is then
        skipped: a call per parameter that small models notice), else None."""
        return None

    # -- state ------------------------------------------------------------------
    def _hyperparameters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._hyper}

    def _set_hyperparameters(self, values: Mapping[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Hyperparameters, the number of parameters (``num_params``) and the
        per-parameter buffers, as a flat dict of (copied) ndarrays."""
        out = {name: np.array(value) for name, value in self._hyperparameters().items()}
        out["num_params"] = np.array(len(self.params))
        for i, st in enumerate(self.state):
            for key, value in st.items():
                out[f"state.{i}.{key}"] = np.array(value, copy=True)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore hyperparameters and buffers; everything is checked before anything changes."""
        name = f"{self._name}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{name}: state must be a mapping, got {type(state).__name__}")
        missing = [k for k in self._hyper if k not in state]
        if missing:
            raise CheckpointError(f"{name}: missing hyperparameters {missing}")
        hyper = {k: np.asarray(state[k]) for k in self._hyper}
        if "num_params" in state:  # (absent from states saved before it was recorded)
            count = np.asarray(state["num_params"])
            if count.shape != () or count.dtype.kind not in "iu" or int(count) != len(self.params):
                have = len(self.params)
                raise CheckpointError(
                    f"{name}: the state is for {count.tolist()!r} parameters, this optimizer has {have}"
                )
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        for key, value in state.items():
            if key in self._hyper or key == "num_params":
                continue
            parts = key.split(".")
            if (
                len(parts) != 3
                or parts[0] != "state"
                or not parts[1].isdigit()
                or parts[2] not in self._buffers
            ):
                raise CheckpointError(f"{name}: unexpected key {key!r}")
            i = int(parts[1])
            if i >= len(self.params):
                raise CheckpointError(
                    f"{name}: {key!r} is for parameter {i}, but this optimizer has {len(self.params)}"
                )
            new_state[i][parts[2]] = self._check_buffer(
                name, key, parts[2], np.asarray(value), self.params[i]
            )
        for i, st in enumerate(new_state):
            if st and set(st) != set(self._buffers):
                raise CheckpointError(
                    f"{name}: parameter {i} has buffers {sorted(st)}, expected all of {sorted(self._buffers)}"
                )
        probe = type(self).__new__(type(self))
        probe._set_hyperparameters(hyper)  # validates with the constructor's checks, on a throwaway object
        self._set_hyperparameters(hyper)
        self.state = new_state

    def _check_buffer(self, name: str, key: str, buffer: str, arr: np.ndarray, p: Value) -> Any:
        if buffer == "step":
            if arr.shape != () or arr.dtype.kind not in "iu" or int(arr) < 1:
                raise CheckpointError(f"{name}: {key!r} must be a positive integer step count, got {arr!r}")
            return int(arr)
        if arr.shape != p.shape:
            raise CheckpointError(
                f"{name}: shape mismatch for {key!r}: the state has {arr.shape}, the parameter has {p.shape}"
            )
        if arr.dtype != p.dtype:
            raise CheckpointError(
                f"{name}: dtype mismatch for {key!r}: the state has {arr.dtype}, the parameter has {p.dtype}"
            )
        return float(arr) if type(p.data) is float else arr.copy()


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule.

    With g = ∇ + weight_decay·p (L2 added to the gradient):

    - momentum μ = 0: p ← p − lr·g
    - else the buffer b ← g on the first step, then b ← μ·b + (1 − dampening)·g;
      p ← p − lr·b, or with ``nesterov=True``: p ← p − lr·(g + μ·b).
    """

    _buffers = ("momentum_buffer",)
    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Value] | Module,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        self._set_hyperparameters(
            {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
             "nesterov": nesterov}
        )  # fmt: skip
        super().__init__(params)

    def _set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        v = {k: _scalar(x) for k, x in values.items()}
        lr = _real("SGD", "lr", v["lr"])
        if lr <= 0:
            raise ValueError(f"SGD: lr must be > 0, got {lr}")
        momentum = _real("SGD", "momentum", v["momentum"])
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        dampening = _real("SGD", "dampening", v["dampening"])
        weight_decay = _real("SGD", "weight_decay", v["weight_decay"])
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay}")
        nesterov = v["nesterov"]
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError(
                f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0 "
                f"(got momentum={momentum}, dampening={dampening})"
            )
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, bool(nesterov)

    def _plain_lr(self) -> float | None:
        return self.lr if self.momentum == 0 and self.weight_decay == 0 else None

    def _update(self, p: Value, g: Any, state: dict[str, Any]) -> tuple[float, Any]:
        d_p = g + self.weight_decay * p.data if self.weight_decay != 0 else g
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = d_p if type(d_p) is float else np.array(d_p, copy=True)
            else:
                buf = buf * self.momentum + (1.0 - self.dampening) * d_p
            state["momentum_buffer"] = buf
            d_p = d_p + self.momentum * buf if self.nesterov else buf
        return self.lr, d_p

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
            f"weight_decay={self.weight_decay}, dampening={self.dampening}, {len(self.params)} params)"
        )


class Adam(Optimizer):
    """Adam, PyTorch's rule. With g = ∇ + weight_decay·p (L2, not AdamW) and step t:

    m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,
    p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)

    (eps is added to the bias-corrected √v, as in PyTorch.)
    """

    _buffers = ("step", "exp_avg", "exp_avg_sq")
    _hyper = ("lr", "betas", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Value] | Module,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self._set_hyperparameters({"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        super().__init__(params)

    def _set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        lr = _real("Adam", "lr", _scalar(values["lr"]))
        if lr <= 0:
            raise ValueError(f"Adam: lr must be > 0, got {lr}")
        try:
            b1, b2 = (float(b) for b in np.asarray(values["betas"], dtype=np.float64).reshape(-1))
        except (TypeError, ValueError):
            raise ValueError(f"Adam: betas must be a pair of numbers, got {values['betas']!r}") from None
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must lie in [0, 1), got ({b1}, {b2})")
        eps = _real("Adam", "eps", _scalar(values["eps"]))
        if eps < 0:
            raise ValueError(f"Adam: eps must be >= 0, got {eps}")
        weight_decay = _real("Adam", "weight_decay", _scalar(values["weight_decay"]))
        if weight_decay < 0:
            raise ValueError(f"Adam: weight_decay must be >= 0, got {weight_decay}")
        self.lr, self.betas, self.eps, self.weight_decay = lr, (b1, b2), eps, weight_decay

    def _hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": np.array(self.betas),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def _update(self, p: Value, g: Any, state: dict[str, Any]) -> tuple[float, Any]:
        b1, b2 = self.betas
        if not state:
            zero = 0.0 if type(p.data) is float else np.zeros_like(p.data)
            state.update(step=0, exp_avg=zero, exp_avg_sq=zero)
        state["step"] += 1
        t = state["step"]
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        m = state["exp_avg"] = _lerp(state["exp_avg"], g, 1.0 - b1)
        v = state["exp_avg_sq"] = state["exp_avg_sq"] * b2 + (1.0 - b2) * (g * g)
        step_size = self.lr / (1.0 - b1**t)
        denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + self.eps
        return step_size, m / denom

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay}, "
            f"{len(self.params)} params)"
        )
