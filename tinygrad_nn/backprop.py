"""Backpropagation by hand: the closed-form δ rules, in plain numpy.

This is the derivation the classic notes do on paper, for a
:class:`~tinygrad_nn.nn.Sequential` of :class:`~tinygrad_nn.nn.Dense` layers,
each optionally followed by an activation g (sigmoid, tanh, relu or
identity), and the error

    E = ½ Σ_k (O_k − t_k)²        (reduction="sum", summed over the batch too)
    E = ½ (1/N) Σ_n Σ_k (O_nk − t_nk)²   (reduction="mean", N = batch size)

Layer l computes z_l = O_{l−1} W_l + θ_l and O_l = g(z_l), with O_0 = x.
δ_l = ∂E/∂z_l, the error signal at a layer's pre-activation, obeys

    output layer:  δ_k = (O_k − t_k) g′(z_k)
    hidden layer:  δ_j = g′(z_j) Σ_k δ_k W_jk        (δ_l = g′(z_l) ⊙ δ_{l+1} W_{l+1}ᵀ)

and the gradients follow from it: ∂E/∂W_ij = O_i δ_j, summed over the batch
(∂E/∂W_l = O_{l−1}ᵀ δ_l), and ∂E/∂θ_j = δ_j (summed over the batch). With g
the sigmoid, g′(z) = O (1 − O); tanh: 1 − O²; relu: 1 where z > 0, else 0
(relu′(0) = 0, as the engine); identity: 1.

Nothing here touches the autograd engine: the parameters' ``.data`` is read
as numpy arrays, so the results are an independent check of autograd (the
``.grad`` autograd leaves on each z is exactly δ).

>>> import numpy as np
>>> from tinygrad_nn import backprop, nn
>>> model = nn.Sequential(nn.Dense(2, 3, rng=0), nn.Sigmoid(), nn.Dense(3, 1, rng=1))
>>> x, t = np.ones((4, 2)), np.zeros((4, 1))
>>> [d.shape for d in backprop.deltas(model, x, t)]
[(4, 3), (4, 1)]
>>> nn.sse_loss(model(x), t).backward()
>>> bool(np.allclose(backprop.gradients(model, x, t)["0.weight"], model[0].weight.grad))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .coerce import numeric_array  # input checking only: the math below is plain numpy

__all__ = ["deltas", "error", "forward", "gradients"]

_REDUCTIONS = ("sum", "mean")

# The activations whose g and g′ are written out below (_g, _g_prime).
_SUPPORTED = ("sigmoid", "tanh", "relu", "identity")


def _activation_name(module: Any) -> str | None:
    """'sigmoid' etc. for a supported activation module, None for anything else."""
    from .nn import ACTIVATIONS

    for name in _SUPPORTED:
        if type(module) is ACTIVATIONS[name]:  # exact type: a subclass may compute something else
            return name
    return None


def _flatten(model: Any) -> list[Any]:
    from . import nn

    if isinstance(model, nn.Dense):
        return [model]
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            "backprop: expected a Sequential of Dense layers (or one Dense layer), "
            f"got {type(model).__name__}"
        )
    out: list[Any] = []
    for m in model:
        out.extend(_flatten(m) if isinstance(m, nn.Sequential) else [m])
    return out


def _layers(model: Any) -> list[tuple[Any, str]]:
    """The network as (Dense layer, activation name) pairs; 'identity' when none follows."""
    from . import nn

    layers: list[tuple[Any, str]] = []
    for i, m in enumerate(_flatten(model)):
        if isinstance(m, nn.Dense):
            layers.append((m, "identity"))
            continue
        act = _activation_name(m)
        if act is None:
            raise TypeError(
                f"backprop: module {i} is {type(m).__name__}; only Dense layers, each optionally "
                f"followed by Sigmoid, Tanh, ReLU or Identity, are supported"
            )
        if act == "identity":
            continue  # nothing to do, wherever it stands
        if not layers:
            raise TypeError(f"backprop: module {i} ({type(m).__name__}) comes before any Dense layer")
        dense, prev = layers[-1]
        if prev != "identity":
            raise TypeError(
                f"backprop: module {i} ({type(m).__name__}) follows another activation; "
                f"only one activation per Dense layer is supported"
            )
        layers[-1] = (dense, act)
    if not layers:
        raise TypeError("backprop: the model has no Dense layer")
    return layers


def _array(x: Any, what: str) -> np.ndarray:
    return numeric_array(x, "backprop", what)  # a Value's data, or the array itself


def _g(act: str, z: np.ndarray) -> np.ndarray:
    if act == "sigmoid":
        e = np.exp(-np.abs(z))  # never exponentiate a positive number: no overflow
        r = 1.0 / (1.0 + e)
        return np.where(z >= 0, r, e * r)
    if act == "tanh":
        return np.tanh(z)
    if act == "relu":
        return np.maximum(z, 0)
    return z


def _g_prime(act: str, z: np.ndarray, O_l: np.ndarray) -> np.ndarray:
    """g′(z), from the layer's output O_l = g(z) where the classic formulas do."""
    if act == "sigmoid":
        return O_l * (1 - O_l)
    if act == "tanh":
        return 1 - O_l * O_l
    if act == "relu":
        return (z > 0).astype(z.dtype)
    return np.ones_like(z)


def forward(model: Any, x: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The forward pass in numpy: ``(zs, Os)`` with ``zs[l]`` the pre-activation
    of Dense layer l and ``Os[l + 1] = g(zs[l])`` its output (``Os[0]`` is x)."""
    layers = _layers(model)
    O_l = _array(x, "x")
    first = layers[0][0]
    if O_l.ndim == 0 or O_l.shape[-1] != first.in_features:
        raise ValueError(
            f"backprop: x has shape {O_l.shape} but {first.name} expects (..., {first.in_features})"
        )
    W0 = np.asarray(first.weight.data)
    if O_l.dtype != W0.dtype:
        O_l = O_l.astype(W0.dtype)  # as Dense does
    zs: list[np.ndarray] = []
    Os: list[np.ndarray] = [O_l]
    for dense, act in layers:
        if O_l.shape[-1] != dense.in_features:
            raise ValueError(
                f"backprop: {dense.name} expects {dense.in_features} inputs but the layer before it "
                f"gives {O_l.shape[-1]}"
            )
        z = O_l @ np.asarray(dense.weight.data)
        if dense.bias is not None:
            z = z + np.asarray(dense.bias.data)
        O_l = _g(act, z)
        zs.append(z)
        Os.append(O_l)
    return zs, Os


def _output_error_signal(O_out: np.ndarray, t: Any, reduction: str) -> np.ndarray:
    """∂E/∂O at the output layer."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"backprop: reduction must be 'sum' or 'mean', got {reduction!r}")
    tt = _array(t, "t")
    if tt.shape != O_out.shape:
        raise ValueError(
            f"backprop: t has shape {tt.shape} but the network's output O has shape {O_out.shape}"
        )
    diff = O_out - tt.astype(O_out.dtype, copy=False)  # as nn.sse_loss: t takes the output's dtype
    if reduction == "mean":  # as nn.sse_loss: divide by the length of the leading (batch) axis
        diff = diff / (O_out.shape[0] if O_out.ndim else 1)
    return diff


def error(model: Any, x: Any, t: Any, reduction: str = "sum") -> float:
    """E = ½ Σ (O − t)² (``"sum"``) or that divided by the batch size (``"mean"``)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"backprop: reduction must be 'sum' or 'mean', got {reduction!r}")
    _, Os = forward(model, x)
    half_sq = 0.5 * float(np.sum(_output_error_signal(Os[-1], t, "sum") ** 2))
    if reduction == "mean":
        half_sq /= Os[-1].shape[0] if Os[-1].ndim else 1
    return half_sq


def _deltas(model: Any, x: Any, t: Any, reduction: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    layers = _layers(model)
    zs, Os = forward(model, x)
    dE_dO = _output_error_signal(Os[-1], t, reduction)
    n = len(layers)
    ds: list[np.ndarray] = [np.empty(0)] * n
    # Output layer: δ_k = (O_k − t_k) g′(z_k).
    ds[-1] = dE_dO * _g_prime(layers[-1][1], zs[-1], Os[-1])
    # Hidden layers, backwards: δ_j = g′(z_j) Σ_k δ_k W_jk.
    for i in range(n - 2, -1, -1):
        W_next = np.asarray(layers[i + 1][0].weight.data)
        ds[i] = _g_prime(layers[i][1], zs[i], Os[i + 1]) * (ds[i + 1] @ W_next.T)
    return ds, Os


def deltas(model: Any, x: Any, t: Any, reduction: str = "sum") -> list[np.ndarray]:
    """δ_l = ∂E/∂z_l for each Dense layer l, in order, each shaped like z_l: (batch, out)."""
    return _deltas(model, x, t, reduction)[0]


def gradients(model: Any, x: Any, t: Any, reduction: str = "sum") -> dict[str, np.ndarray]:
    """∂E/∂θ for every parameter, keyed as ``model.named_parameters()``.

    ∂E/∂W_l = O_{l−1}ᵀ δ_l (a sum over the batch of O_i δ_j) and ∂E/∂θ_l = Σ_batch δ_l.
    A layer used twice in the model gets the sum of both contributions.
    """
    layers = _layers(model)
    ds, Os = _deltas(model, x, t, reduction)
    names = {id(p): name for name, p in model.named_parameters()}
    grads: dict[str, np.ndarray] = {}

    def add(p: Any, g: np.ndarray) -> None:
        key = names[id(p)]
        grads[key] = grads[key] + g if key in grads else g

    for (dense, _), d, O_prev in zip(layers, ds, Os[:-1], strict=True):
        flat_O = O_prev.reshape(-1, O_prev.shape[-1])  # leading axes are all batch
        flat_d = d.reshape(-1, d.shape[-1])
        add(dense.weight, flat_O.T @ flat_d)
        if dense.bias is not None:
            add(dense.bias, flat_d.sum(axis=0))
    return {name: grads[name] for name in names.values() if name in grads}
