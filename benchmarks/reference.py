"""The hand-written numpy references: what the library's overhead is measured against.

:class:`NumpyMLP` is the training step a person writes with the classic δ
formulas, E = ½ Σ (O − t)²:

    output layer   δ_k = (O_k − t_k) · g′(z_k)        (g′ = 1 for a linear output)
    hidden layer   δ_j = g′(z_j) · Σ_k δ_k W_jk
    gradients      ∂E/∂W_ij = O_i δ_j,  ∂E/∂θ_j = δ_j   (summed over the batch)

with g′ taken from the saved output: σ′ = O(1 − O), tanh′ = 1 − O². The
update is plain SGD, W ← W − η ∂E/∂W, in place. Nothing is allocated beyond
the activations and one δ per layer; this is the floor a numpy autograd
framework can approach but not pass.

:func:`numpy_gradcheck` is the plain central-difference loop over every
parameter element (two forward passes each) that gradcheck is compared to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    # name: (g, g′ written in terms of the output O = g(z))
    "sigmoid": (sigmoid, lambda o: o * (1.0 - o)),
    "tanh": (np.tanh, lambda o: 1.0 - o * o),
}


class NumpyMLP:
    """Dense layers ``z = h @ W + θ`` with activations, trained by SGD on E = ½ Σ (O − t)².

    ``layers`` is a list of (W, θ) pairs (copied), W of shape (in, out);
    ``activations`` has one entry per layer: "sigmoid", "tanh" or "linear".
    """

    def __init__(
        self, layers: Sequence[tuple[np.ndarray, np.ndarray]], activations: Sequence[str], lr: float
    ) -> None:
        if len(layers) != len(activations):
            raise ValueError(f"NumpyMLP: {len(layers)} layers but {len(activations)} activations")
        self.weights = [np.array(w) for w, _ in layers]
        self.biases = [np.array(b) for _, b in layers]
        self.activations = list(activations)
        self.lr = lr

    def parameters(self) -> list[np.ndarray]:
        """W1, θ1, W2, θ2, ... (the library's ``model.parameters()`` order)."""
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """The outputs of every layer, input first."""
        outs = [x]
        for w, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            z = outs[-1] @ w + b
            outs.append(z if act == "linear" else ACTIVATIONS[act][0](z))
        return outs

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        d = self.forward(x)[-1] - t
        return 0.5 * float(np.sum(d * d))

    def gradients(self, outs: list[np.ndarray], t: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """E and [∂E/∂W1, ∂E/∂θ1, ...] from the saved layer outputs (backprop with the δ formulas)."""
        o = outs[-1]
        d = o - t
        e = 0.5 * float(np.sum(d * d))
        delta = self._times_derivative(d, o, self.activations[-1])
        grads: list[np.ndarray] = []
        for i in range(len(self.weights) - 1, -1, -1):
            grads[:0] = [outs[i].T @ delta, delta.sum(axis=0)]
            if i:
                delta = self._times_derivative(delta @ self.weights[i].T, outs[i], self.activations[i - 1])
        return e, grads

    def step(self, x: np.ndarray, t: np.ndarray) -> float:
        """One training step (forward, E, backward, SGD update); returns E before the update."""
        outs = self.forward(x)
        o = outs[-1]
        d = o - t
        e = 0.5 * float(np.sum(d * d))
        delta = self._times_derivative(d, o, self.activations[-1])
        lr = self.lr
        for i in range(len(self.weights) - 1, -1, -1):
            w = self.weights[i]
            grad_w = outs[i].T @ delta
            grad_b = delta.sum(axis=0)
            if i:  # δ for the layer below, with W as it was before this update
                delta = self._times_derivative(delta @ w.T, outs[i], self.activations[i - 1])
            w -= lr * grad_w
            self.biases[i] -= lr * grad_b
        return e

    @staticmethod
    def _times_derivative(upstream: np.ndarray, o: np.ndarray, act: str) -> np.ndarray:
        return upstream if act == "linear" else upstream * ACTIVATIONS[act][1](o)


def numpy_gradcheck(
    net: NumpyMLP, x: np.ndarray, t: np.ndarray, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3
) -> tuple[bool, float]:
    """Central differences for every parameter element, one at a time, against backprop.

    Returns (passed, worst |analytic − numeric| / (atol + rtol·|numeric|)), the
    same criterion as ``tinygrad_nn.gradcheck``.
    """
    _, analytic = net.gradients(net.forward(x), t)
    worst = 0.0
    for p, grad in zip(net.parameters(), analytic, strict=True):
        flat = p.reshape(-1)  # a view: the perturbation reaches the network
        numeric = np.empty(flat.size)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            up = net.loss(x, t)
            flat[j] = orig - eps
            down = net.loss(x, t)
            flat[j] = orig
            numeric[j] = (up - down) / (2 * eps)
        err = np.abs(grad.reshape(-1) - numeric) / (atol + rtol * np.abs(numeric))
        worst = max(worst, float(err.max()))
    return worst <= 1.0, worst
